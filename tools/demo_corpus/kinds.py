"""Kinds of finding: the types, base severities and titles of each, and how an action selects one.

A kind (``network_inbound``, ``dns``, ``runtime``, ...) decides the shape of a finding's resource,
action and service details.
"""

from __future__ import annotations

import random
from itertools import accumulate

from tools.demo_corpus.random_values import pick

ACTION_TYPES = (
    "NETWORK_CONNECTION",
    "PORT_PROBE",
    "AWS_API_CALL",
    "DNS_REQUEST",
    "KUBERNETES_API_CALL",
    "RDS_LOGIN_ATTEMPT",
    "NONE",
)
NO_ACTION_FEATURES = ("RuntimeMonitoring", "EbsVolumeScan", "Correlation")


# (finding type, base severity, title template). Templates may use {target} and {ip}.
TYPES_BY_KIND: dict[str, tuple[tuple[str, float, str], ...]] = {
    "network_inbound": (
        ("UnauthorizedAccess:EC2/SSHBruteForce", 2.0,
         "{ip} is performing SSH brute force attacks against {target}."),
        ("UnauthorizedAccess:EC2/RDPBruteForce", 2.0,
         "{ip} is performing RDP brute force attacks against {target}."),
        ("UnauthorizedAccess:EC2/TorIPCaller", 5.0,
         "EC2 instance {target} is receiving inbound connections from a Tor exit node."),
        ("UnauthorizedAccess:EC2/MaliciousIPCaller.Custom", 5.0,
         "EC2 instance {target} is communicating with a disallowed IP address {ip}."),
        ("Recon:EC2/Portscan", 5.0, "Unprotected port on EC2 instance {target} is being probed."),
    ),
    "network_outbound": (
        ("Backdoor:EC2/DenialOfService.Tcp", 8.0,
         "EC2 instance {target} is behaving in a manner that may indicate it is being used to "
         "perform a Denial of Service (DoS) attack using the TCP protocol."),
        ("Backdoor:EC2/DenialOfService.UdpOnTcpPorts", 8.0,
         "EC2 instance {target} is behaving in a manner that may indicate it is being used to "
         "perform a Denial of Service (DoS) attack using UDP on TCP ports."),
        ("Backdoor:EC2/C&CActivity.B", 8.0,
         "EC2 instance {target} is querying an IP that is associated with a known command and "
         "control server."),
        ("CryptoCurrency:EC2/BitcoinTool.B", 8.0,
         "EC2 instance {target} is communicating with Bitcoin mining pools."),
        ("UnauthorizedAccess:EC2/TorClient", 8.0,
         "EC2 instance {target} is making connections to Tor Guard or Authority nodes."),
        ("Trojan:EC2/DropPoint", 5.0,
         "EC2 instance {target} is communicating with a remote host {ip} that is known to hold "
         "credentials and other stolen data captured by malware."),
        ("UnauthorizedAccess:EC2/SSHBruteForce", 8.0,
         "EC2 instance {target} is performing SSH brute force attacks against {ip}."),
    ),
    "port_probe": (
        ("Recon:EC2/PortProbeUnprotectedPort", 2.0,
         "Unprotected port on EC2 instance {target} is being probed."),
        ("Recon:EC2/PortProbeEMRUnprotectedPort", 8.0,
         "EMR-related port on EC2 instance {target} is being probed."),
    ),
    "api_remote_ip": (
        ("UnauthorizedAccess:IAMUser/TorIPCaller", 5.0,
         "API {api} was invoked from a Tor exit node IP address."),
        ("UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom", 5.0,
         "API {api} was invoked from an IP address on a custom threat list."),
        ("Recon:IAMUser/MaliciousIPCaller", 5.0,
         "Reconnaissance API {api} was invoked from a known malicious IP address."),
        ("UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS", 8.0,
         "Credentials for instance role were used from a remote AWS account."),
        ("Discovery:S3/MaliciousIPCaller", 8.0,
         "S3 API {api} was invoked from a known malicious IP address {ip}."),
        ("PenTest:IAMUser/KaliLinux", 5.0, "API {api} was invoked from a Kali Linux computer."),
        ("Stealth:IAMUser/CloudTrailLoggingDisabled", 2.0,
         "AWS CloudTrail trail was disabled by principal {target}."),
        ("Policy:S3/BucketBlockPublicAccessDisabled", 2.0,
         "Amazon S3 Block Public Access was disabled for S3 bucket {target}."),
        ("CredentialAccess:IAMUser/AnomalousBehavior", 5.0,
         "The API {api} was used to access credentials in an unusual way."),
    ),
    "api_domain": (
        ("PrivilegeEscalation:IAMUser/AdministrativePermissions", 8.0,
         "Principal {target} attempted to add a highly permissive policy to themselves."),
        ("Policy:IAMUser/RootCredentialUsage", 2.0,
         "API {api} was invoked using root credentials."),
        ("Stealth:S3/ServerAccessLoggingDisabled", 2.0,
         "Amazon S3 server access logging was disabled for bucket {target}."),
    ),
    "dns": (
        ("Trojan:EC2/BlackholeTraffic!DNS", 8.0,
         "EC2 instance {target} is querying a domain name that is being redirected to a black "
         "hole IP address."),
        ("CryptoCurrency:EC2/BitcoinTool.B!DNS", 8.0,
         "EC2 instance {target} is querying a domain name that is associated with Bitcoin-related "
         "activity."),
        ("Backdoor:EC2/C&CActivity.B!DNS", 8.0,
         "EC2 instance {target} is querying a domain name associated with a known command and "
         "control server."),
        ("Trojan:EC2/DGADomainRequest.B", 8.0,
         "EC2 instance {target} is querying algorithmically generated domains."),
        ("Trojan:EC2/DNSDataExfiltration", 8.0,
         "EC2 instance {target} is attempting to exfiltrate data through DNS queries."),
        ("Impact:EC2/AbusedDomainRequest.Reputation", 5.0,
         "EC2 instance {target} is querying a low reputation domain name associated with known "
         "abused domains."),
    ),
    "kubernetes": (
        ("Discovery:Kubernetes/TorIPCaller", 5.0,
         "A Kubernetes API commonly used in Discovery tactics was invoked from a Tor exit node."),
        ("Discovery:Kubernetes/MaliciousIPCaller.Custom", 5.0,
         "A Kubernetes API was invoked from an IP address on a custom threat list."),
        ("Execution:Kubernetes/ExecInKubeSystemPod", 5.0,
         "Command executed inside a pod in the kube-system namespace on EKS cluster {target}."),
        ("Policy:Kubernetes/AnonymousAccessGranted", 8.0,
         "The system:anonymous user was granted API permissions on EKS cluster {target}."),
        ("PrivilegeEscalation:Kubernetes/PrivilegedContainer", 5.0,
         "Privileged container with root level access launched on EKS cluster {target}."),
    ),
    "rds": (
        ("CredentialAccess:RDS/AnomalousBehavior.SuccessfulLogin", 8.0,
         "An anomalous successful login was observed on database {target}."),
        ("CredentialAccess:RDS/AnomalousBehavior.FailedLogin", 5.0,
         "Unusual failed login attempts were observed on database {target}."),
        ("CredentialAccess:RDS/AnomalousBehavior.SuccessfulBruteForce", 8.0,
         "A successful login followed a brute force of database {target}."),
        ("CredentialAccess:RDS/TorIPCaller.FailedLogin", 5.0,
         "A Tor IP address made failed login attempts on database {target}."),
        ("Discovery:RDS/MaliciousIPCaller", 5.0,
         "A known malicious IP address probed database {target}."),
    ),
    "runtime": (
        ("PrivilegeEscalation:Runtime/DockerSocketAccessed", 5.0,
         "A process inside a container is communicating with the Docker socket."),
        ("Execution:Runtime/NewBinaryExecuted", 5.0,
         "A newly created or recently modified binary file was executed in container {target}."),
        ("Execution:Runtime/ReverseShell", 8.0,
         "A process in container {target} has created a reverse shell."),
        ("CryptoCurrency:Runtime/BitcoinTool.B", 8.0,
         "A container is querying a domain name associated with cryptocurrency activity."),
        ("DefenseEvasion:Runtime/FilelessExecution", 5.0,
         "A process in container {target} is executing code from memory."),
    ),
    "malware": (
        ("Execution:EC2/MaliciousFile", 8.0,
         "Malicious file detected on EC2 instance {target}."),
        ("Execution:EC2/SuspiciousFile", 5.0,
         "Suspicious file detected on EC2 instance {target}."),
    ),
    "attack_sequence": (
        ("AttackSequence:IAM/CompromisedCredentials", 9.0,
         "Potential credential compromise of {target} indicated by a sequence of actions."),
        ("AttackSequence:S3/CompromisedData", 9.0,
         "Potential data compromise of one or more S3 buckets involving a sequence of actions "
         "associated with {target}."),
        ("AttackSequence:EKS/CompromisedCluster", 9.0,
         "Potential compromise of EKS cluster {target} indicated by a sequence of actions."),
    ),
}  # fmt: skip

# Share of findings (not versions) of each kind; the rest of a finding's shape follows its kind.
_KIND_WEIGHTS = {
    "network_inbound": 18,
    "network_outbound": 9,
    "port_probe": 14,
    "api_remote_ip": 14,
    "api_domain": 4,
    "dns": 10,
    "kubernetes": 7,
    "rds": 5,
    "runtime": 8,
    "malware": 5,
    "attack_sequence": 3,
}
KINDS = tuple(_KIND_WEIGHTS)
KIND_CUMULATIVE = tuple(accumulate(_KIND_WEIGHTS.values()))


def kind_for(
    action_type: str,
    connection_direction: str,
    caller_type: str,
    feature_name: str | None,
    rng: random.Random,
) -> str:
    """The kind a finding with this action (or, for ``NONE``, this feature) is built as."""
    if action_type == "NETWORK_CONNECTION":
        return "network_outbound" if connection_direction == "OUTBOUND" else "network_inbound"
    if action_type == "AWS_API_CALL":
        return "api_domain" if caller_type == "Domain" else "api_remote_ip"
    simple = {
        "PORT_PROBE": "port_probe",
        "DNS_REQUEST": "dns",
        "KUBERNETES_API_CALL": "kubernetes",
        "RDS_LOGIN_ATTEMPT": "rds",
    }
    if action_type in simple:
        return simple[action_type]
    if action_type != "NONE":
        raise ValueError(f"unknown action type {action_type!r}; expected one of {ACTION_TYPES}")
    feature = feature_name or pick(rng, NO_ACTION_FEATURES)
    by_feature = {
        "RuntimeMonitoring": "runtime",
        "EbsVolumeScan": "malware",
        "Correlation": "attack_sequence",
    }
    if feature not in by_feature:
        raise ValueError(f"unknown feature {feature!r}; expected one of {NO_ACTION_FEATURES}")
    return by_feature[feature]


# The arguments of `build_finding` that select each kind: the inverse of `kind_for`.
KIND_ACTION_TYPES = {
    "network_inbound": "NETWORK_CONNECTION",
    "network_outbound": "NETWORK_CONNECTION",
    "port_probe": "PORT_PROBE",
    "api_remote_ip": "AWS_API_CALL",
    "api_domain": "AWS_API_CALL",
    "dns": "DNS_REQUEST",
    "kubernetes": "KUBERNETES_API_CALL",
    "rds": "RDS_LOGIN_ATTEMPT",
    "runtime": "NONE",
    "malware": "NONE",
    "attack_sequence": "NONE",
}
KIND_ARGUMENTS = {
    "network_outbound": {"connection_direction": "OUTBOUND"},
    "api_domain": {"caller_type": "Domain"},
    "runtime": {"feature_name": "RuntimeMonitoring"},
    "malware": {"feature_name": "EbsVolumeScan"},
    "attack_sequence": {"feature_name": "Correlation"},
}
