"""Deterministic demo corpus of GuardDuty findings, in every input layout of the data contract.

The corpus is what ``make run`` ingests when no source is configured, and what benchmarks and tests
use as realistic input. Everything is derived from ``random.Random(seed)`` and the end date, so the
same arguments write byte-identical files. Findings are streamed to disk as they are generated, so
a million versions need no more memory than five thousand.

Layouts written under the target directory (see docs/data-contract.md, section 2):

    eventbridge/YYYY/MM/DD/HH/<uuid>.json[.gz]                       one EventBridge event
    AWSLogs/<account>/GuardDuty/<region>/YYYY/MM/DD/<uuid>.jsonl.gz  native export, a finding a line
    findings-api/<account>/<region>/<uuid>.json[.gz]                 a finding, or a JSON array
    get-findings/<account>/<region>/<uuid>.json                      GetFindings output, either case

The builder functions (`build_finding`, `build_next_version`, `to_pascal_case`,
`eventbridge_event`) are public so that tests can write their own fixtures with the same shapes.
"""

from __future__ import annotations

import argparse
import bisect
import gzip
import hashlib
import random
import sys
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from itertools import accumulate
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import orjson

T = TypeVar("T")

LAYOUT_EVENTBRIDGE = "eventbridge"
LAYOUT_NATIVE_EXPORT = "native_export"
LAYOUT_FINDINGS_API = "findings_api"
LAYOUT_GET_FINDINGS = "get_findings"
ALL_LAYOUTS = (LAYOUT_EVENTBRIDGE, LAYOUT_NATIVE_EXPORT, LAYOUT_FINDINGS_API, LAYOUT_GET_FINDINGS)

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
SAMPLE_FORMS = ("flag", "string", "value")

FINDING_DETAIL_TYPE = "GuardDuty Finding"
NON_FINDING_DETAIL_TYPES = (
    "GuardDuty Runtime Protection Unhealthy",
    "GuardDuty Malware Protection Object Scan Result",
)

ACCOUNT_REGIONS: dict[str, tuple[str, ...]] = {
    "004215587723": ("us-east-1", "eu-west-1"),
    "318645072909": ("us-east-1", "us-west-2", "eu-central-1"),
    "741258963014": ("eu-west-1", "ap-southeast-2"),
    "562093817456": ("us-east-1",),
    "890123456781": ("eu-central-1", "ap-southeast-2"),
}
ACCOUNT_REGION_PAIRS = tuple((a, r) for a, regions in ACCOUNT_REGIONS.items() for r in regions)

DEFAULT_CREATED_AT = datetime(2025, 6, 2, 9, 30, tzinfo=UTC)

# Fast compression keeps a million-version benchmark corpus quick to write; ratio still ~10x.
_GZIP_LEVEL = 1
_NATIVE_LINES_PER_OBJECT = 1000
_GET_FINDINGS_PAGE_SIZE = 50


@dataclass(frozen=True)
class Country:
    """A country as GuardDuty names it, with plausible places, address blocks and networks."""

    name: str
    code: str
    weight: int
    centroid: tuple[float, float]
    cities: tuple[tuple[str, float, float], ...]
    ipv4_first_octets: tuple[int, ...]
    ipv6_prefix: str
    networks: tuple[tuple[str, str, str], ...]  # (asn, asnOrg, isp)


COUNTRIES = (
    Country("United States", "US", 14, (37.751, -97.822),
            (("Ashburn", 39.0437, -77.4875), ("San Jose", 37.3394, -121.895),
             ("New York", 40.7128, -74.006), ("Dallas", 32.7831, -96.8067)),
            (23, 45, 64, 104, 162, 198), "2600:3c00",
            (("14061", "DIGITALOCEAN-ASN", "DigitalOcean"), ("16509", "AMAZON-02", "Amazon.com"),
             ("396982", "GOOGLE-CLOUD-PLATFORM", "Google LLC"),
             ("20473", "AS-CHOOPA", "The Constant Company"))),
    Country("China", "CN", 14, (34.7732, 113.722),
            (("Beijing", 39.9042, 116.4074), ("Shanghai", 31.2304, 121.4737),
             ("Guangzhou", 23.1291, 113.2644), ("Shenzhen", 22.5431, 114.0579)),
            (27, 36, 58, 61, 112, 117, 122, 183, 222), "240e:3b4",
            (("4134", "CHINANET-BACKBONE", "China Telecom"),
             ("4837", "CHINA UNICOM China169 Backbone", "China Unicom"),
             ("45090", "Shenzhen Tencent Computer Systems Company Limited", "Tencent Cloud"),
             ("37963", "Hangzhou Alibaba Advertising Co.,Ltd.", "Aliyun Computing"))),
    Country("Russia", "RU", 9, (55.7386, 37.6068),
            (("Moscow", 55.7558, 37.6173), ("Saint Petersburg", 59.9311, 30.3609),
             ("Novosibirsk", 55.0084, 82.9357)),
            (5, 31, 37, 46, 77, 95, 176, 188), "2a00:1fa0",
            (("12389", "PJSC Rostelecom", "Rostelecom"), ("49505", "JSC Selectel", "Selectel"),
             ("8359", "MTS PJSC", "MTS"))),
    Country("South Korea", "KR", 6, (37.5112, 126.9741),
            (("Seoul", 37.5665, 126.978), ("Busan", 35.1796, 129.0756),
             ("Incheon", 37.4563, 126.7052)),
            (1, 14, 58, 110, 121, 175, 211, 218), "2001:2d8",
            (("4766", "Korea Telecom", "KT Corporation"),
             ("9318", "SK Broadband Co Ltd", "SK Broadband"))),
    Country("Vietnam", "VN", 5, (16.0, 106.0),
            (("Hanoi", 21.0278, 105.8342), ("Ho Chi Minh City", 10.8231, 106.6297),
             ("Da Nang", 16.0544, 108.2022)),
            (1, 14, 27, 113, 115, 171), "2001:ee0",
            (("45899", "VNPT Corp", "VNPT"), ("7552", "Viettel Group", "Viettel"))),
    Country("Türkiye", "TR", 3, (41.0214, 28.9948),
            (("Istanbul", 41.0082, 28.9784), ("Ankara", 39.9334, 32.8597),
             ("Izmir", 38.4237, 27.1428)),
            (78, 85, 88, 176, 195, 212), "2a02:ff0",
            (("9121", "Turk Telekom", "Turk Telekomunikasyon Anonim Sirketi"),)),
    Country("Côte d'Ivoire", "CI", 1, (7.54, -5.5471),
            (("Abidjan", 5.36, -4.0083), ("Yamoussoukro", 6.8276, -5.2893)),
            (41, 102, 154, 196, 197), "2c0f:f0c8",
            (("29571", "ORANGE COTE D'IVOIRE", "Orange Cote d'Ivoire"),)),
    Country("Brazil", "BR", 5, (-22.8305, -43.2192),
            (("São Paulo", -23.5505, -46.6333), ("Rio de Janeiro", -22.9068, -43.1729),
             ("Curitiba", -25.4284, -49.2733)),
            (177, 179, 186, 187, 189, 191, 200, 201), "2804:14c",
            (("28573", "Claro NXT Telecomunicacoes Ltda", "Claro"),
             ("18881", "TELEFONICA BRASIL S.A", "Vivo"))),
    Country("Netherlands", "NL", 5, (52.3824, 4.8995),
            (("Amsterdam", 52.3676, 4.9041), ("Rotterdam", 51.9244, 4.4777),
             ("Naaldwijk", 51.9936, 4.2094)),
            (5, 31, 37, 45, 80, 185, 193, 212), "2a01:7c8",
            (("60781", "LeaseWeb Netherlands B.V.", "LeaseWeb"),
             ("49981", "WorldStream B.V.", "WorldStream"),
             ("14061", "DIGITALOCEAN-ASN", "DigitalOcean"))),
    Country("Germany", "DE", 5, (51.2993, 9.491),
            (("Frankfurt am Main", 50.1109, 8.6821), ("Falkenstein", 50.4779, 12.3713),
             ("Nuremberg", 49.4521, 11.0767), ("Berlin", 52.52, 13.405)),
            (5, 46, 78, 88, 91, 116, 138, 144, 159, 167, 188, 213), "2a01:4f8",
            (("24940", "Hetzner Online GmbH", "Hetzner"),
             ("3320", "Deutsche Telekom AG", "Deutsche Telekom"),
             ("51167", "Contabo GmbH", "Contabo"))),
    Country("India", "IN", 5, (21.9974, 79.0011),
            (("Mumbai", 19.076, 72.8777), ("Bengaluru", 12.9716, 77.5946),
             ("New Delhi", 28.6139, 77.209), ("Chennai", 13.0827, 80.2707)),
            (1, 14, 27, 49, 103, 106, 117, 122, 157, 182), "2401:4900",
            (("9829", "National Internet Backbone", "BSNL"),
             ("55836", "Reliance Jio Infocomm Limited", "Reliance Jio"),
             ("24560", "Bharti Airtel Ltd.", "Airtel"))),
    Country("France", "FR", 3, (48.8582, 2.3387),
            (("Paris", 48.8566, 2.3522), ("Roubaix", 50.6942, 3.1746),
             ("Gravelines", 50.9865, 2.128)),
            (5, 37, 51, 54, 57, 91, 137, 141, 151, 178, 193), "2001:41d0",
            (("16276", "OVH SAS", "OVH"), ("12876", "SCALEWAY S.A.S.", "Scaleway"))),
    Country("United Kingdom", "GB", 2, (51.4964, -0.1224),
            (("London", 51.5074, -0.1278), ("Manchester", 53.4808, -2.2426)),
            (2, 5, 31, 46, 51, 81, 86, 92, 109, 178, 185, 212), "2a02:c7f",
            (("5089", "Virgin Media Limited", "Virgin Media"),
             ("2856", "British Telecommunications PLC", "BT"))),
    Country("Singapore", "SG", 2, (1.3667, 103.8),
            (("Singapore", 1.2897, 103.8501),),
            (43, 103, 128, 139, 159, 165, 188), "2400:6180",
            (("14061", "DIGITALOCEAN-ASN", "DigitalOcean"),
             ("45102", "Alibaba US Technology Co., Ltd.", "Alibaba"))),
    Country("Hong Kong", "HK", 2, (22.2578, 114.1657),
            (("Hong Kong", 22.3193, 114.1694), ("Kowloon", 22.3167, 114.1833)),
            (43, 45, 103, 116, 154, 202), "2403:c80",
            (("9304", "HGC Global Communications Limited", "HGC"),
             ("4760", "HKT Limited", "HKT"))),
    Country("Japan", "JP", 2, (35.69, 139.69),
            (("Tokyo", 35.6762, 139.6503), ("Osaka", 34.6937, 135.5023)),
            (1, 27, 36, 49, 60, 106, 126, 133, 153, 160, 210), "2400:4050",
            (("2516", "KDDI CORPORATION", "KDDI"),
             ("4713", "NTT Communications Corporation", "OCN"))),
    Country("Romania", "RO", 2, (45.9968, 24.997),
            (("Bucharest", 44.4268, 26.1025), ("Cluj-Napoca", 46.7712, 23.6236)),
            (5, 31, 37, 79, 86, 89, 93, 188, 193), "2a02:2f0c",
            (("8708", "RCS & RDS SA", "Digi Romania"),)),
    Country("Ukraine", "UA", 2, (49.0, 32.0),
            (("Kyiv", 50.4501, 30.5234), ("Kharkiv", 49.9935, 36.2304),
             ("Odesa", 46.4825, 30.7233)),
            (31, 37, 46, 91, 93, 176, 178, 193), "2a02:2378",
            (("15895", "Kyivstar PJSC", "Kyivstar"),)),
    Country("Indonesia", "ID", 2, (-6.175, 106.8286),
            (("Jakarta", -6.2088, 106.8456), ("Surabaya", -7.2575, 112.7521)),
            (36, 103, 114, 118, 125, 180, 182, 202), "2001:448a",
            (("7713", "PT Telekomunikasi Indonesia", "Telkom Indonesia"),)),
    Country("Iran", "IR", 2, (35.698, 51.4115),
            (("Tehran", 35.6892, 51.389), ("Mashhad", 36.2605, 59.6168)),
            (2, 5, 31, 37, 46, 78, 85, 91, 185), "2a01:5ec0",
            (("58224", "Iran Telecommunication Company PJS", "TCI"),)),
    Country("Taiwan", "TW", 1, (24.0, 121.0),
            (("Taipei", 25.033, 121.5654), ("Taichung", 24.1477, 120.6736)),
            (1, 36, 39, 59, 60, 61, 111, 114, 118, 122, 210), "2001:b000",
            (("3462", "Data Communication Business Group", "HiNet"),)),
    Country("Nigeria", "NG", 1, (10.0, 8.0),
            (("Lagos", 6.5244, 3.3792), ("Abuja", 9.0765, 7.3986)),
            (41, 102, 105, 129, 154, 197), "2c0f:f5c0",
            (("29465", "MTN NIGERIA Communication limited", "MTN Nigeria"),)),
    Country("Bulgaria", "BG", 1, (42.7, 25.4),
            (("Sofia", 42.6977, 23.3219), ("Plovdiv", 42.1354, 24.7453)),
            (5, 31, 46, 77, 78, 87, 94, 185, 212), "2a01:8740",
            (("8866", "Vivacom Bulgaria EAD", "Vivacom"),)),
)  # fmt: skip
COUNTRY_CODES_BY_NAME = {country.name: country.code for country in COUNTRIES}
_COUNTRY_BY_NAME = {country.name: country for country in COUNTRIES}
_COUNTRY_CUMULATIVE = tuple(accumulate(country.weight for country in COUNTRIES))

# (finding type, base severity, title template). Templates may use {target} and {ip}.
_TYPES: dict[str, tuple[tuple[str, float, str], ...]] = {
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
_KINDS = tuple(_KIND_WEIGHTS)
_KIND_CUMULATIVE = tuple(accumulate(_KIND_WEIGHTS.values()))

_BOUNDARY_SEVERITIES = (3.9, 4.0, 6.9, 7.0, 8.9, 9.0)
_PORTS = ((22, "SSH"), (3389, "RDP"), (23, "TELNET"), (445, "SMB"), (3306, "MYSQL"),
          (5432, "POSTGRESQL"), (6379, "REDIS"), (8080, "HTTP"), (9200, "Unknown"),
          (80, "HTTP"), (443, "HTTPS"), (1433, "MSSQL"))  # fmt: skip
_BAD_DOMAINS = ("xmr.pool.minergate.com", "pool.supportxmr.com", "update-check.duckdns.org",
                "cdn-telemetry.top", "k3q9w0sdl2.biz", "login-verify-account.info",
                "c2.darkcomet-rat.net", "blackhole.guarddutyc2activityb.com",
                "stratum.nicehash.com", "files.pastebin-mirror.xyz")  # fmt: skip
_APIS = (("GetCallerIdentity", "sts.amazonaws.com"), ("ListBuckets", "s3.amazonaws.com"),
         ("DescribeInstances", "ec2.amazonaws.com"), ("ListUsers", "iam.amazonaws.com"),
         ("GetObject", "s3.amazonaws.com"), ("CreateAccessKey", "iam.amazonaws.com"),
         ("DeleteTrail", "cloudtrail.amazonaws.com"), ("GetSecretValue",
         "secretsmanager.amazonaws.com"), ("PutBucketPublicAccessBlock", "s3.amazonaws.com"),
         ("AttachUserPolicy", "iam.amazonaws.com"))  # fmt: skip
_USER_AGENTS = ("aws-cli/2.15.30 Python/3.11.8 Linux/6.1.79 exe/x86_64.kali.2024",
                "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.5.0 lang/python#3.11.8",
                "aws-sdk-go/1.50.38 (go1.21.8; linux; amd64)",
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)",
                "")  # fmt: skip
_USERS = ("alice.devops", "build-bot", "j.martin", "svc-reporting", "terraform-ci", "root")
_INSTANCE_TYPES = ("t3.micro", "t3.medium", "m5.large", "c6i.xlarge", "r6g.large", "m7g.medium")
_CONTAINER_IMAGES = (
    "public.ecr.aws/nginx/nginx:1.25",
    "docker.io/library/redis:7.2",
    "ghcr.io/acme/payments-api:3.4.1",
    "docker.io/library/python:3.12-slim",
)
_THREAT_LISTS = ("ProofPoint", "CrowdStrike", "Amazon", "TorExitNodes", "CustomBlockList")
_MALWARE_NAMES = ("EICAR-Test-File (not a virus)", "Linux.Trojan.Mirai", "Linux.Miner.XMRig",
                  "Linux.Backdoor.Tsunami")  # fmt: skip


@dataclass
class CorpusSummary:
    """What a call of `generate_demo_corpus` wrote.

    ``versions`` counts distinct finding versions (id, updatedAt, count); ``deliveries`` counts
    finding records written, so duplicates of a version are counted once per copy.
    ``findings_by_action_type`` counts finding ids by the action type of their current version
    (``NONE`` for findings without one).
    """

    target_dir: str
    seed: int
    end_date: str
    finding_ids: int = 0
    versions: int = 0
    deliveries: int = 0
    duplicate_deliveries: int = 0
    out_of_order_deliveries: int = 0
    objects_written: int = 0
    non_finding_objects: int = 0
    sample_findings: int = 0
    archived_findings: int = 0
    objects_by_layout: dict[str, int] = field(default_factory=dict)
    deliveries_by_layout: dict[str, int] = field(default_factory=dict)
    findings_by_action_type: dict[str, int] = field(default_factory=dict)

    def one_line(self) -> str:
        """A one-line human summary."""
        layouts = ", ".join(f"{k}={v}" for k, v in sorted(self.objects_by_layout.items()))
        return (
            f"demo corpus in {self.target_dir}: {self.finding_ids} findings, {self.versions} "
            f"versions, {self.deliveries} records ({self.duplicate_deliveries} duplicates, "
            f"{self.out_of_order_deliveries} out of order), {self.objects_written} objects "
            f"({layouts}; {self.non_finding_objects} non-findings), "
            f"{self.sample_findings} samples, {self.archived_findings} archived"
        )


# ---------------------------------------------------------------------------------------------
# Small value builders


# random.Random.choice/randrange/randint are slow pure-Python wrappers; these draw from
# rng.random() directly, which keeps a million-version corpus quick while staying deterministic.
def _pick(rng: random.Random, items: Sequence[T]) -> T:
    return items[int(rng.random() * len(items))]


def _randrange(rng: random.Random, start: int, stop: int | None = None) -> int:
    if stop is None:
        start, stop = 0, start
    return start + int(rng.random() * (stop - start))


def _randint(rng: random.Random, low: int, high: int) -> int:
    return low + int(rng.random() * (high - low + 1))


def _weighted(rng: random.Random, items: Sequence[T], cumulative: Sequence[float]) -> T:
    return items[bisect.bisect(cumulative, rng.random() * cumulative[-1])]


def _hex(rng: random.Random, length: int) -> str:
    return f"{rng.getrandbits(length * 4):0{length}x}"


@cache
def _stable_hex(*parts: object, length: int = 16) -> str:
    """A hex id that depends only on its parts, so resources recur across findings."""
    digest = hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=16).hexdigest()
    return digest[:length]


def random_uuid(rng: random.Random) -> str:
    """A version-4 UUID string drawn from ``rng`` (never from the operating system)."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def detector_id(account_id: str, region: str) -> str:
    """The detector id of an account in a region: stable, 32 hex characters."""
    return _stable_hex("detector", account_id, region, length=32)


def _to_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


_EPOCH = datetime(1970, 1, 1)


def _iso(epoch_ms: int, with_ms: bool = True) -> str:
    moment = _EPOCH + timedelta(milliseconds=epoch_ms)
    return moment.isoformat(timespec="milliseconds" if with_ms else "seconds") + "Z"


def _from_iso(text: str) -> int:
    return _to_ms(datetime.fromisoformat(text.replace("Z", "+00:00")))


def _public_ipv4(rng: random.Random, country: Country) -> str:
    first = _pick(rng, country.ipv4_first_octets)
    bits = rng.getrandbits(24)
    return f"{first}.{bits >> 16}.{(bits >> 8) & 0xFF}.{(bits & 0xFF) % 254 + 1}"


def _public_ipv6(rng: random.Random, country: Country) -> str:
    return (
        f"{country.ipv6_prefix}:{_randrange(rng, 1, 0xFFFF):x}:{_randrange(rng, 0xFFFF):x}::"
        f"{_randrange(rng, 1, 0xFFFF):x}"
    )


def _private_ipv4(rng: random.Random) -> str:
    bits = rng.getrandbits(24)
    return f"10.{bits >> 16}.{(bits >> 8) & 0xFF}.{(bits & 0xFF) % 246 + 4}"


def pick_country(rng: random.Random) -> Country:
    """A country drawn with weights like those of real attack sources."""
    return _weighted(rng, COUNTRIES, _COUNTRY_CUMULATIVE)


def remote_ip_details(
    rng: random.Random,
    *,
    ipv6: bool = False,
    country_name: str | None = None,
    sample: bool = False,
) -> dict[str, Any]:
    """A ``remoteIpDetails`` object as GuardDuty writes it.

    Args:
        rng: The random source.
        ipv6: Give an ``ipAddressV6`` instead of an ``ipAddressV4``.
        country_name: Force the country (a name of `COUNTRIES`, or ``""`` for unknown); drawn
            from `COUNTRIES` when None, with a small share of unknown countries.
        sample: Use the placeholder values of GuardDuty sample findings.

    Returns:
        The camelCase dict.
    """
    if sample:
        return {
            "ipAddressV4": "198.51.100.0",
            "organization": {
                "asn": _pick(rng, ("-1", "0")),
                "asnOrg": "GeneratedFindingASNOrg",
                "isp": "GeneratedFindingISP",
                "org": "GeneratedFindingORG",
            },
            "country": {"countryName": "GeneratedFindingCountryName"},
            "city": {"cityName": "GeneratedFindingCityName"},
            "geoLocation": {"lat": 0, "lon": 0},
        }
    if country_name is None and rng.random() < 0.03:
        country_name = ""
    if country_name and country_name not in _COUNTRY_BY_NAME:
        raise ValueError(f"unknown country {country_name!r}; use a name of COUNTRIES or ''")
    country = pick_country(rng) if country_name is None else _COUNTRY_BY_NAME.get(country_name)
    if country is None:  # unknown location: GuardDuty still knows the network
        fallback = pick_country(rng)
        asn, asn_org, isp = _pick(rng, fallback.networks)
        details: dict[str, Any] = {
            "ipAddressV6" if ipv6 else "ipAddressV4": (
                _public_ipv6(rng, fallback) if ipv6 else _public_ipv4(rng, fallback)
            ),
            "organization": {"asn": asn, "asnOrg": asn_org, "isp": isp, "org": isp},
            "country": {"countryName": ""},
            "city": {"cityName": ""},
        }
        return details
    asn, asn_org, isp = _pick(rng, country.networks)
    if rng.random() < 0.15:
        city_name, lat, lon = "", *country.centroid
    else:
        city_name, lat, lon = _pick(rng, country.cities)
    country_value = {"countryName": country.name}
    if rng.random() < 0.15:
        country_value = {"countryCode": country.code, "countryName": country.name}
    return {
        "ipAddressV6" if ipv6 else "ipAddressV4": (
            _public_ipv6(rng, country) if ipv6 else _public_ipv4(rng, country)
        ),
        "organization": {"asn": asn, "asnOrg": asn_org, "isp": isp, "org": isp},
        "country": country_value,
        "city": {"cityName": city_name},
        "geoLocation": {"lat": lat, "lon": lon},
    }


def _coordinates(number: int, lat: float, lon: float) -> dict[str, float]:
    return {"lat": lat, "lon": lon} if number % 2 else {"latitude": lat, "longitude": lon}


def _endpoint(rng: random.Random, number: int) -> dict[str, Any]:
    country = pick_country(rng)
    asn, asn_org, _ = _pick(rng, country.networks)
    city_name, lat, lon = _pick(rng, country.cities)
    return {
        "id": f"endpoint-{number}",
        "ip": _public_ipv4(rng, country),
        # The API model's wire names are lat/lon; the data contract documents latitude/longitude.
        # Both appear, so the models are exercised on either spelling.
        "location": {"city": city_name, "country": country.name, **_coordinates(number, lat, lon)},
        "autonomousSystem": {"name": asn_org, "number": int(asn)},
        "connection": {"direction": "INBOUND"},
    }


# ---------------------------------------------------------------------------------------------
# Resources


def _instance_details(rng: random.Random, account_id: str, region: str, sample: bool) -> dict:
    if sample:
        instance_id = "i-99999999"
    else:
        instance_id = "i-0" + _stable_hex(
            "instance", account_id, region, _randrange(rng, 40), length=16
        )
    private_ip = _private_ipv4(rng)
    public_ip = None
    if rng.random() >= 0.3:
        octets = (_pick(rng, (3, 18, 34, 52, 54)), _randrange(rng, 256), _randrange(rng, 256))
        public_ip = ".".join(map(str, octets)) + f".{_randrange(rng, 1, 255)}"
    interface: dict[str, Any] = {
        "ipv6Addresses": [],
        "networkInterfaceId": "eni-0" + _stable_hex("eni", instance_id, length=16),
        "privateDnsName": f"ip-{private_ip.replace('.', '-')}.{region}.compute.internal",
        "privateIpAddress": private_ip,
        "privateIpAddresses": [
            {
                "privateDnsName": f"ip-{private_ip.replace('.', '-')}.{region}.compute.internal",
                "privateIpAddress": private_ip,
            }
        ],
        "subnetId": "subnet-0" + _stable_hex("subnet", account_id, region, length=16),
        "vpcId": "vpc-0" + _stable_hex("vpc", account_id, region, length=16),
        "securityGroups": [
            {"groupName": "web-tier", "groupId": "sg-0" + _stable_hex("sg", account_id, length=16)}
        ],
    }
    if public_ip:
        interface["publicDnsName"] = f"ec2-{public_ip.replace('.', '-')}.compute-1.amazonaws.com"
        interface["publicIp"] = public_ip
    return {
        "instanceId": instance_id,
        "instanceType": _pick(rng, _INSTANCE_TYPES),
        "outpostArn": None,
        "launchTime": "2025-03-11T08:14:52.000Z",
        "platform": None,
        "productCodes": [],
        "iamInstanceProfile": {
            "arn": f"arn:aws:iam::{account_id}:instance-profile/app-server",
            "id": "AIPA" + _stable_hex("profile", account_id, length=17).upper(),
        },
        "networkInterfaces": [interface],
        "tags": [
            {"key": "Name", "value": f"app-{instance_id[-4:]}"},
            {"key": "env", "value": "prod"},
        ],
        "instanceState": "running",
        "availabilityZone": f"{region}{_pick(rng, 'abc')}",
        "imageId": "ami-0" + _stable_hex("ami", region, length=16),
        "imageDescription": "Amazon Linux 2023 AMI",
    }


def _access_key_details(rng: random.Random, account_id: str) -> dict:
    user = _pick(rng, _USERS)
    user_type = "Root" if user == "root" else _pick(rng, ("IAMUser", "IAMUser", "AssumedRole"))
    return {
        "accessKeyId": ("ASIA" if user_type == "AssumedRole" else "AKIA")
        + _stable_hex("key", account_id, user, length=16).upper(),
        "principalId": "AIDA" + _stable_hex("principal", account_id, user, length=17).upper(),
        "userName": user,
        "userType": user_type,
    }


def _resource(rng: random.Random, kind: str, account_id: str, region: str, sample: bool) -> dict:
    if kind in ("network_inbound", "network_outbound", "port_probe", "dns"):
        return {
            "resourceType": "Instance",
            "instanceDetails": _instance_details(rng, account_id, region, sample),
        }
    if kind in ("api_remote_ip", "api_domain"):
        resource: dict[str, Any] = {
            "resourceType": "AccessKey",
            "accessKeyDetails": _access_key_details(rng, account_id),
        }
        if rng.random() < 0.3:
            bucket = f"acme-{_stable_hex('bucket', account_id, _randrange(rng, 6), length=8)}"
            resource["resourceType"] = "S3Bucket"
            resource["s3BucketDetails"] = [
                {
                    "arn": f"arn:aws:s3:::{bucket}",
                    "name": bucket,
                    "type": "Destination",
                    "createdAt": 1_700_000_000 + _randrange(rng, 10_000_000) + 0.5,
                    "owner": {"id": _stable_hex("owner", account_id, length=32)},
                    "tags": [],
                    "defaultServerSideEncryption": {"encryptionType": "AES256"},
                }
            ]
        return resource
    if kind == "kubernetes":
        cluster = f"eks-{_pick(rng, ('prod', 'staging', 'data'))}"
        return {
            "resourceType": "EKSCluster",
            "eksClusterDetails": {
                "name": cluster,
                "arn": f"arn:aws:eks:{region}:{account_id}:cluster/{cluster}",
                "vpcId": "vpc-0" + _stable_hex("vpc", account_id, region, length=16),
                "status": "ACTIVE",
                "tags": [],
                "createdAt": 1_690_000_000.123,
            },
            "kubernetesDetails": {
                "kubernetesUserDetails": {
                    "username": _pick(rng, ("system:anonymous", "kubernetes-admin", "ci-deployer")),
                    "uid": random_uuid(rng),
                    "groups": ["system:authenticated"],
                },
                "kubernetesWorkloadDetails": None,
            },
        }
    if kind == "rds":
        db = f"orders-db-{_randrange(rng, 1, 4)}"
        return {
            "resourceType": "RDSDBInstance",
            "rdsDbInstanceDetails": {
                "dbInstanceIdentifier": db,
                "engine": _pick(rng, ("aurora-postgresql", "aurora-mysql")),
                "engineVersion": "15.4",
                "dbClusterIdentifier": "orders-cluster",
                "dbInstanceArn": f"arn:aws:rds:{region}:{account_id}:db:{db}",
                "tags": [],
            },
            "rdsDbUserDetails": {
                "user": _pick(rng, ("admin", "app_rw", "postgres")),
                "application": "psql",
                "database": "orders",
                "ssl": "true",
                "authMethod": "PASSWORD",
            },
        }
    if kind == "runtime":
        cluster = f"ecs-{_pick(rng, ('web', 'workers'))}"
        return {
            "resourceType": "Container",
            "ecsClusterDetails": {
                "name": cluster,
                "arn": f"arn:aws:ecs:{region}:{account_id}:cluster/{cluster}",
                "status": "ACTIVE",
                "taskDetails": {
                    "arn": f"arn:aws:ecs:{region}:{account_id}:task/{cluster}/{_hex(rng, 32)}",
                    "definitionArn": f"arn:aws:ecs:{region}:{account_id}:task-definition/api:7",
                    "launchType": _pick(rng, ("FARGATE", "EC2")),
                },
            },
            "containerDetails": {
                "containerRuntime": "containerd",
                "id": _hex(rng, 64),
                "name": None,
                "image": _pick(rng, _CONTAINER_IMAGES),
                "imagePrefix": None,
            },
        }
    if kind == "malware":
        details = _instance_details(rng, account_id, region, sample)
        volume = "vol-0" + _stable_hex("vol", details["instanceId"], length=16)
        return {
            "resourceType": "Instance",
            "instanceDetails": details,
            "ebsVolumeDetails": {
                "scannedVolumeDetails": [
                    {
                        "volumeArn": f"arn:aws:ec2:{region}:{account_id}:volume/{volume}",
                        "volumeType": "gp3",
                        "deviceName": "/dev/xvda",
                        "volumeSizeInGB": 8,
                        "encryptionType": "UNENCRYPTED",
                        "snapshotArn": (
                            f"arn:aws:ec2:{region}:{account_id}:snapshot/snap-0{_hex(rng, 17)}"
                        ),
                        "kmsKeyArn": None,
                    }
                ],
                "skippedVolumeDetails": [],
            },
        }
    return {"resourceType": "AttackSequence"}


def _resource_label(resource: dict) -> str:
    if "instanceDetails" in resource:
        return resource["instanceDetails"]["instanceId"]
    if "eksClusterDetails" in resource:
        return resource["eksClusterDetails"]["name"]
    if "rdsDbInstanceDetails" in resource:
        return resource["rdsDbInstanceDetails"]["dbInstanceIdentifier"]
    if "containerDetails" in resource:
        return resource["containerDetails"]["id"][:12]
    if "s3BucketDetails" in resource:
        return resource["s3BucketDetails"][0]["name"]
    if "accessKeyDetails" in resource:
        details = resource["accessKeyDetails"]
        return f"{details['userType']}:{details['userName']}"
    return "the account"


# ---------------------------------------------------------------------------------------------
# Actions and service details


def _action(
    rng: random.Random,
    kind: str,
    *,
    ipv6: bool,
    sample: bool,
    country_name: str | None,
    finding_type: str,
) -> dict | None:
    def remote() -> dict:
        return remote_ip_details(rng, ipv6=ipv6, country_name=country_name, sample=sample)

    if kind in ("network_inbound", "network_outbound"):
        inbound = kind == "network_inbound"
        port, port_name = _pick(rng, _PORTS[:3] if "BruteForce" in finding_type else _PORTS)
        ephemeral = _randrange(rng, 32768, 61000)
        return {
            "actionType": "NETWORK_CONNECTION",
            "networkConnectionAction": {
                "connectionDirection": "INBOUND" if inbound else "OUTBOUND",
                "remoteIpDetails": remote(),
                "remotePortDetails": (
                    {"port": ephemeral, "portName": "Unknown"}
                    if inbound
                    else {"port": port, "portName": port_name}
                ),
                "localPortDetails": (
                    {"port": port, "portName": port_name}
                    if inbound
                    else {"port": ephemeral, "portName": "Unknown"}
                ),
                "localIpDetails": {"ipAddressV4": _private_ipv4(rng)},
                "protocol": "UDP" if "Udp" in finding_type else "TCP",
                "blocked": False,
            },
        }
    if kind == "port_probe":
        details = []
        for _ in range(_randint(rng, 2, 6)):
            port, port_name = _pick(rng, _PORTS)
            details.append(
                {
                    "localPortDetails": {"port": port, "portName": port_name},
                    "localIpDetails": {"ipAddressV4": _private_ipv4(rng)},
                    "remoteIpDetails": remote_ip_details(
                        rng, ipv6=ipv6 and rng.random() < 0.5, sample=sample
                    ),
                }
            )
        return {
            "actionType": "PORT_PROBE",
            "portProbeAction": {"portProbeDetails": details, "blocked": False},
        }
    if kind == "api_remote_ip":
        api, service = _pick(rng, _APIS)
        return {
            "actionType": "AWS_API_CALL",
            "awsApiCallAction": {
                "api": api,
                "serviceName": service,
                "callerType": "Remote IP",
                "remoteIpDetails": remote(),
                "errorCode": _pick(rng, ("", "", "AccessDenied")),
                "userAgent": _pick(rng, _USER_AGENTS),
                "affectedResources": {},
            },
        }
    if kind == "api_domain":
        api, service = _pick(rng, _APIS)
        return {
            "actionType": "AWS_API_CALL",
            "awsApiCallAction": {
                "api": api,
                "serviceName": service,
                "callerType": "Domain",
                "domainDetails": {
                    "domain": _pick(rng, ("cloudformation.amazonaws.com", "ec2.amazonaws.com"))
                },
                "affectedResources": {
                    "AWS::IAM::Role": f"arn:aws:iam::{_hex(rng, 12)}:role/deploy"
                },
            },
        }
    if kind == "dns":
        domain = _pick(rng, _BAD_DOMAINS)
        return {
            "actionType": "DNS_REQUEST",
            "dnsRequestAction": {
                "domain": domain,
                "domainWithSuffix": ".".join(domain.rsplit(".", 2)[-2:]),
                "protocol": "UDP",
                "blocked": rng.random() < 0.2,
            },
        }
    if kind == "kubernetes":
        return {
            "actionType": "KUBERNETES_API_CALL",
            "kubernetesApiCallAction": {
                "requestUri": _pick(rng, ("/api/v1/secrets", "/api/v1/namespaces/kube-system/pods",
                                          "/apis/rbac.authorization.k8s.io/v1/clusterroles")),
                "verb": _pick(rng, ("list", "get", "create", "watch")),
                "sourceIPs": [_private_ipv4(rng)],
                "userAgent": "kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819",
                "remoteIpDetails": remote(),
                "statusCode": _pick(rng, (200, 200, 403)),
                "namespace": _pick(rng, ("kube-system", "default", "payments")),
                "resource": _pick(rng, ("secrets", "pods", "clusterroles")),
            },
        }  # fmt: skip
    if kind == "rds":
        failed = _randint(rng, 0, 400)
        return {
            "actionType": "RDS_LOGIN_ATTEMPT",
            "rdsLoginAttemptAction": {
                "remoteIpDetails": remote(),
                "LoginAttributes": [
                    {
                        "user": _pick(rng, ("admin", "postgres", "sa")),
                        "application": _pick(rng, ("psql", "", "mysql")),
                        "failedLoginAttempts": failed,
                        "successfulLoginAttempts": 0 if "Failed" in finding_type else 1,
                    }
                ],
            },
        }
    return None


def _runtime_details(rng: random.Random, finding_type: str) -> dict:
    process_name = _pick(rng, ("curl", "sh", "python3", "xmrig", "nc"))
    context: dict[str, Any] = {}
    if "DockerSocket" in finding_type:
        context = {"socketPath": "/var/run/docker.sock"}
    elif "ReverseShell" in finding_type:
        context = {"ianaProtocolNumber": 6, "addressFamily": "AF_INET"}
    return {
        "process": {
            "name": process_name,
            "executablePath": f"/usr/bin/{process_name}",
            "executableSha256": _hex(rng, 64),
            "pid": _randrange(rng, 100, 40000),
            "startTime": 1_750_000_000 + rng.random() * 1_000_000,
            "uuid": random_uuid(rng),
            "parentUuid": random_uuid(rng),
            "user": "root",
            "userId": 0,
            "euid": 0,
            "lineage": [
                {"pid": 1, "uuid": random_uuid(rng), "executablePath": "/sbin/init", "euid": 0},
            ],
        },
        "context": context,
    }


def _ebs_volume_scan_details(rng: random.Random, created_ms: int, finding_type: str) -> dict:
    threat = _pick(rng, _MALWARE_NAMES)
    severity = "HIGH" if "Malicious" in finding_type else "MEDIUM"
    return {
        "scanId": _hex(rng, 32),
        "scanStartedAt": created_ms - 600_000,
        "scanCompletedAt": created_ms - 60_000,
        "triggerFindingId": _hex(rng, 32),
        "sources": ["Amazon GuardDuty"],
        "scanType": "GUARDDUTY_INITIATED",
        "scanDetections": {
            "scannedItemCount": {
                "totalGb": 8,
                "files": _randrange(rng, 50_000, 200_000),
                "volumes": 1,
            },
            "threatsDetectedItemCount": {"files": 1},
            "highestSeverityThreatDetails": {
                "severity": severity,
                "threatName": threat,
                "count": 1,
            },
            "threatDetectedByName": {
                "itemCount": 1,
                "uniqueThreatNameCount": 1,
                "shortened": False,
                "threatNames": [
                    {
                        "name": threat,
                        "severity": severity,
                        "itemCount": 1,
                        "filePaths": [
                            {
                                "filePath": f"/home/ec2-user/.cache/{_hex(rng, 8)}",
                                "volumeArn": "",
                                "hash": _hex(rng, 64),
                                "fileName": _hex(rng, 8),
                            }
                        ],
                    }
                ],
            },
        },
    }


def _detection_sequence(rng: random.Random, created_ms: int, account_id: str, region: str) -> dict:
    endpoints = [_endpoint(rng, number) for number in range(_randint(rng, 1, 4))]
    signal_names = (
        "UnauthorizedAccess:IAMUser/TorIPCaller",
        "Stealth:IAMUser/CloudTrailLoggingDisabled",
        "Discovery:S3/MaliciousIPCaller",
        "Persistence:IAMUser/AnomalousBehavior",
    )
    signals = []
    for number, name in enumerate(rng.sample(signal_names, _randint(rng, 2, 4))):
        signals.append(
            {
                "uid": f"signal-{number}",
                "type": "FINDING",
                "name": name,
                "description": f"GuardDuty finding {name}",
                "createdAt": created_ms - 3_600_000 * (number + 1),
                "updatedAt": created_ms - 1_800_000 * (number + 1),
                "firstSeenAt": created_ms - 3_600_000 * (number + 1),
                "lastSeenAt": created_ms - 1_800_000 * (number + 1),
                "severity": _pick(rng, (2.0, 5.0, 8.0)),
                "count": _randint(rng, 1, 20),
                "resourceUids": [f"arn:aws:iam::{account_id}:user/{_pick(rng, _USERS)}"],
                "actorIds": ["actor-0"],
                "endpointIds": [endpoint["id"] for endpoint in endpoints],
            }
        )
    return {
        "sequence": {
            "uid": _hex(rng, 32),
            "description": "A sequence of actions indicating a possible credential compromise.",
            "actors": [{"id": "actor-0", "session": {"mfaStatus": "DISABLED"}}],
            "resources": [
                {
                    "uid": f"arn:aws:iam::{account_id}:user/{_pick(rng, _USERS)}",
                    "accountId": account_id,
                    "resourceType": "AWS::IAM::User",
                    "region": region,
                    "service": "IAM",
                    "cloudPartition": "aws",
                }
            ],
            "endpoints": endpoints,
            "signals": signals,
            "sequenceIndicators": [
                {"key": "ATTACK_TACTIC", "values": ["Discovery", "Defense Evasion", "Persistence"]},
            ],
        }
    }


def _additional_info(rng: random.Random, sample_form: str | None, threat_list: str | None) -> dict:
    if sample_form == "flag":
        return {"sample": True, "type": "default", "value": '{"sample":true}'}
    if sample_form == "string":
        return {"sample": "True"}
    if sample_form == "value":
        return {"type": "default", "value": '{"sample":true}'}
    roll = rng.random()
    if threat_list and roll < 0.5:
        return {"threatListName": threat_list, "threatName": "Known malicious host"}
    if roll < 0.7:
        return {}
    if roll < 0.85:
        return {"value": "{}", "type": "default"}
    return {"unusualProtocol": "TCP", "unusual": {"hoursOfDay": [1_750_000_000_000]}}


def _kind_for(
    action_type: str,
    connection_direction: str,
    caller_type: str,
    feature_name: str | None,
    rng: random.Random,
) -> str:
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
    feature = feature_name or _pick(rng, NO_ACTION_FEATURES)
    by_feature = {
        "RuntimeMonitoring": "runtime",
        "EbsVolumeScan": "malware",
        "Correlation": "attack_sequence",
    }
    if feature not in by_feature:
        raise ValueError(f"unknown feature {feature!r}; expected one of {NO_ACTION_FEATURES}")
    return by_feature[feature]


def _severity(rng: random.Random, base: float, kind: str) -> float | int | str:
    if kind == "attack_sequence":
        value: float | int = _pick(rng, (9.0, 9.0, 9.2, 9.5, 9.9, 10.0))
    else:
        roll = rng.random()
        if roll < 0.15:
            value = _pick(rng, _BOUNDARY_SEVERITIES[:5])
        elif roll < 0.35:
            value = int(base)  # as the sample findings carry them
        else:
            value = base
    if rng.random() < 0.04:
        return f"{float(value):.1f}"
    return value


# ---------------------------------------------------------------------------------------------
# Public builders


def build_finding(
    rng: random.Random,
    *,
    action_type: str,
    connection_direction: str = "INBOUND",
    caller_type: str = "Remote IP",
    feature_name: str | None = None,
    finding_type: str | None = None,
    finding_id: str | None = None,
    account_id: str | None = None,
    region: str | None = None,
    created_at: datetime | None = None,
    updated_at: datetime | None = None,
    count: int = 1,
    severity: float | str | None = None,
    sample_form: str | None = None,
    archived: bool = False,
    ipv6: bool = False,
    country_name: str | None = None,
    with_milliseconds: bool = True,
) -> dict[str, Any]:
    """Build one realistic GuardDuty finding in the camelCase shape of EventBridge and S3.

    Anything not given is drawn from ``rng``; the clock is never read.

    Args:
        rng: The random source.
        action_type: One of `ACTION_TYPES`; ``NONE`` builds a finding without an action.
        connection_direction: ``INBOUND`` or ``OUTBOUND`` (NETWORK_CONNECTION; OUTBOUND makes the
            instance the ACTOR).
        caller_type: ``Remote IP`` or ``Domain`` (AWS_API_CALL; Domain has no remoteIpDetails).
        feature_name: For ``NONE``: ``RuntimeMonitoring`` (``"action": {}``), ``EbsVolumeScan``
            (Malware Protection, no action) or ``Correlation`` (attack sequence, no action);
            drawn when None.
        finding_type: Override the finding type drawn for the kind.
        finding_id: Override the 32-hex-character id.
        account_id: A 12-digit account id; drawn from `ACCOUNT_REGIONS` when None.
        region: The region; drawn from the account's regions when None.
        created_at: When the finding was created (default `DEFAULT_CREATED_AT`).
        updated_at: When this version was published (default ``created_at``).
        count: ``service.count``.
        severity: Override the severity (a number or numeric string).
        sample_form: Make a sample finding: ``flag`` (``additionalInfo.sample: true``),
            ``string`` (``"sample": "True"``) or ``value`` (only the ``value`` JSON string).
        archived: ``service.archived``.
        ipv6: Remote addresses as ``ipAddressV6``.
        country_name: Force the remote country (``""`` for unknown).
        with_milliseconds: Write timestamps with milliseconds.

    Returns:
        The finding as a dict.
    """
    kind = _kind_for(action_type, connection_direction, caller_type, feature_name, rng)
    if account_id is None:
        account_id, drawn_region = _pick(rng, ACCOUNT_REGION_PAIRS)
        region = region or drawn_region
    elif region is None:
        region = _pick(rng, ACCOUNT_REGIONS.get(account_id, ("us-east-1",)))
    type_name, base_severity, title = _pick(rng, _TYPES[kind])
    finding_type = finding_type or type_name
    finding_id = finding_id or _hex(rng, 32)
    created_ms = _to_ms(created_at or DEFAULT_CREATED_AT)
    updated_ms = _to_ms(updated_at) if updated_at else created_ms
    if not with_milliseconds:
        created_ms -= created_ms % 1000
        updated_ms -= updated_ms % 1000
    sample = sample_form is not None
    detector = detector_id(account_id, region)
    resource = _resource(rng, kind, account_id, region, sample)
    action = _action(
        rng, kind, ipv6=ipv6, sample=sample, country_name=country_name, finding_type=finding_type
    )
    threat_list = _pick(rng, _THREAT_LISTS) if kind in ("network_outbound", "dns") else None
    first_seen_ms = created_ms - _randrange(rng, 0, 900_000)
    service: dict[str, Any] = {"serviceName": "guardduty", "detectorId": detector}
    if action is not None:
        service["action"] = action
    elif kind == "runtime":
        service["action"] = {}
    service["resourceRole"] = "ACTOR" if kind == "network_outbound" else "TARGET"
    service["additionalInfo"] = _additional_info(rng, sample_form, threat_list)
    roll = rng.random()
    if threat_list and roll < 0.6:
        service["evidence"] = {
            "threatIntelligenceDetails": [
                {"threatListName": threat_list, "threatNames": ["Malicious"]}
            ]
        }
    elif roll < 0.8:
        service["evidence"] = None
    if kind == "runtime":
        service["featureName"] = "RuntimeMonitoring"
        service["runtimeDetails"] = _runtime_details(rng, finding_type)
    elif kind == "malware":
        service["featureName"] = "EbsVolumeScan"
        service["ebsVolumeScanDetails"] = _ebs_volume_scan_details(rng, created_ms, finding_type)
    elif kind == "attack_sequence":
        service["featureName"] = "Correlation"
        service["detection"] = _detection_sequence(rng, created_ms, account_id, region)
    service["eventFirstSeen"] = _iso(first_seen_ms, with_milliseconds)
    service["eventLastSeen"] = _iso(
        max(first_seen_ms, updated_ms - _randrange(rng, 0, 60_000)), with_milliseconds
    )
    service["archived"] = archived
    service["count"] = count
    label = _resource_label(resource)
    remote_ip = _first_remote_ip(action) or "an unknown host"
    api = action["awsApiCallAction"]["api"] if action and "awsApiCallAction" in action else ""
    return {
        "schemaVersion": "2.0",
        "accountId": account_id,
        "region": region,
        "partition": "aws",
        "id": finding_id,
        "arn": f"arn:aws:guardduty:{region}:{account_id}:detector/{detector}/finding/{finding_id}",
        "type": finding_type,
        "resource": resource,
        "service": service,
        "severity": severity if severity is not None else _severity(rng, base_severity, kind),
        "createdAt": _iso(created_ms, with_milliseconds),
        "updatedAt": _iso(updated_ms, with_milliseconds),
        "title": title.format(target=label, ip=remote_ip, api=api),
        "description": title.format(target=label, ip=remote_ip, api=api)
        + " Investigate the activity and the resource involved.",
    }


def _first_remote_ip(action: dict | None) -> str | None:
    if not action:
        return None
    for key, value in action.items():
        if key == "actionType" or not isinstance(value, dict):
            continue
        details = value.get("remoteIpDetails")
        if details is None and value.get("portProbeDetails"):
            details = value["portProbeDetails"][0]["remoteIpDetails"]
        if details:
            return details.get("ipAddressV4") or details.get("ipAddressV6")
    return None


def _refreshed_action(rng: random.Random, action: dict) -> dict:
    """The action of a later occurrence: same shape, a new remote actor."""
    fresh = orjson.loads(orjson.dumps(action))
    for key, value in fresh.items():
        if key == "actionType" or not isinstance(value, dict):
            continue
        if "remoteIpDetails" in value:
            old = value["remoteIpDetails"]
            value["remoteIpDetails"] = remote_ip_details(
                rng,
                ipv6="ipAddressV6" in old,
                sample=old.get("country", {}).get("countryName") == "GeneratedFindingCountryName",
            )
        if "portProbeDetails" in value:
            probes = value["portProbeDetails"]
            port, port_name = _pick(rng, _PORTS)
            probes.append(
                {
                    "localPortDetails": {"port": port, "portName": port_name},
                    "localIpDetails": probes[0].get("localIpDetails", {}),
                    "remoteIpDetails": remote_ip_details(rng),
                }
            )
            del probes[: max(0, len(probes) - 8)]
    return fresh


def build_next_version(
    finding: dict[str, Any],
    rng: random.Random,
    *,
    updated_at: datetime | None = None,
    added_count: int | None = None,
    new_actor: bool | None = None,
    archived: bool | None = None,
) -> dict[str, Any]:
    """The next version of a finding, as GuardDuty re-emits it after further occurrences.

    The id and ``createdAt`` stay; ``service.count``, ``updatedAt`` and ``service.eventLastSeen``
    grow. The input is not modified.

    Args:
        finding: The previous version (camelCase).
        rng: The random source.
        updated_at: When the new version is published; by default 15 minutes to 6 hours later.
        added_count: Occurrences added to ``service.count`` (drawn when None).
        new_actor: Replace the remote endpoints with those of a new actor, as GuardDuty does
            (drawn when None).
        archived: Set ``service.archived`` (unchanged when None).

    Returns:
        The new version.
    """
    with_ms = "." in finding["updatedAt"]
    previous_ms = _from_iso(finding["updatedAt"])
    if updated_at is None:
        updated_ms = previous_ms + _pick(rng, (900, 3600, 21600)) * 1000 + _randrange(rng, 60_000)
    else:
        updated_ms = _to_ms(updated_at)
    return _next_version(
        finding,
        rng,
        updated_ms=updated_ms,
        added_count=added_count if added_count is not None else _randint(rng, 1, 25),
        new_actor=new_actor if new_actor is not None else rng.random() < 0.3,
        archived=archived,
        with_ms=with_ms,
    )


def _next_version(
    finding: dict[str, Any],
    rng: random.Random,
    *,
    updated_ms: int,
    added_count: int,
    new_actor: bool,
    archived: bool | None,
    with_ms: bool,
) -> dict[str, Any]:
    version = dict(finding)
    service = dict(finding["service"])
    version["service"] = service
    version["updatedAt"] = _iso(updated_ms, with_ms)
    service["count"] = service["count"] + added_count
    service["eventLastSeen"] = _iso(updated_ms - _randrange(rng, 0, 60_000), with_ms)
    if archived is not None:
        service["archived"] = archived
    if new_actor and service.get("action"):
        service["action"] = _refreshed_action(rng, service["action"])
    return version


def eventbridge_event(
    finding: dict[str, Any], rng: random.Random, *, time: str | None = None
) -> dict[str, Any]:
    """Wrap a camelCase finding in the EventBridge envelope that the capture Lambda stores.

    Args:
        finding: The finding (becomes ``detail``).
        rng: The random source of the event id.
        time: The event time; by default ``updatedAt`` to the second.

    Returns:
        The event dict.
    """
    if time is None:
        time = finding["updatedAt"][:19] + "Z"
    return {
        "version": "0",
        "id": random_uuid(rng),
        "detail-type": FINDING_DETAIL_TYPE,
        "source": "aws.guardduty",
        "account": finding["accountId"],
        "time": time,
        "region": finding["region"],
        "resources": [],
        "detail": finding,
    }


# ---------------------------------------------------------------------------------------------
# PascalCase (boto3 / AWS CLI) shape


@cache
def _guardduty_model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("guardduty")


@cache
def _member_names(shape_name: str) -> dict[str, tuple[str, Any]]:
    """camelCase wire name -> (PascalCase member name, member shape) of a structure shape."""
    shape = _guardduty_model().shape_for(shape_name)
    return {
        member.serialization.get("name", name): (name, member)
        for name, member in shape.members.items()
    }


def _upper_first(key: str) -> str:
    return key[:1].upper() + key[1:]


def _convert(value: Any, shape: Any) -> Any:
    if isinstance(value, list):
        member = shape.member if shape is not None and shape.type_name == "list" else None
        return [_convert(item, member) for item in value]
    if not isinstance(value, dict):
        return value
    if shape is not None and shape.type_name == "map":
        return {key: _convert(item, shape.value) for key, item in value.items()}
    if shape is not None and shape.name == "ServiceAdditionalInfo":
        return _additional_info_pascal(value)
    members = (
        _member_names(shape.name) if shape is not None and shape.type_name == "structure" else {}
    )
    converted = {}
    for key, item in value.items():
        name, member = members.get(key, (_upper_first(key), None))
        converted[name] = _convert(item, member)
    return converted


def _additional_info_pascal(info: dict[str, Any]) -> dict[str, str]:
    if isinstance(info.get("value"), str):
        serialized = info["value"]
    else:
        rest = {key: item for key, item in info.items() if key not in ("type", "value")}
        serialized = orjson.dumps(rest).decode()
    return {"Type": info.get("type", "default"), "Value": serialized}


def to_pascal_case(finding: dict[str, Any]) -> dict[str, Any]:
    """Convert a camelCase finding to the boto3 / AWS CLI shape.

    Member names come from the botocore GuardDuty service model (``sourceIPs`` becomes
    ``SourceIps``); keys unknown to the model get an upper-case first letter; map keys (such as
    ``affectedResources``) are kept. ``service.additionalInfo`` becomes
    ``{"Type": ..., "Value": "<json string>"}``.

    Args:
        finding: The camelCase finding.

    Returns:
        A new dict; the input is not modified.
    """
    return _convert(finding, _guardduty_model().shape_for("Finding"))


# ---------------------------------------------------------------------------------------------
# Writers: each streams its objects to disk and counts what it wrote


class _Output:
    """Shared file writing: directories, object counts, gzip without timestamps."""

    def __init__(self, root: Path, summary: CorpusSummary) -> None:
        self.root = root
        self.summary = summary
        self._made_dirs: set[Path] = set()

    def path(self, key: str) -> Path:
        path = self.root / key
        parent = path.parent
        if parent not in self._made_dirs:
            parent.mkdir(parents=True, exist_ok=True)
            self._made_dirs.add(parent)
        return path

    def write_object(self, layout: str, key: str, payload: bytes, *, findings: int) -> None:
        path = self.path(key)
        if key.endswith(".gz"):
            payload = gzip.compress(payload, compresslevel=_GZIP_LEVEL, mtime=0)
        path.write_bytes(payload)
        self.count_object(layout, findings)

    def count_object(self, layout: str, findings: int) -> None:
        summary = self.summary
        summary.objects_written += 1
        if findings == 0:
            summary.non_finding_objects += 1
        by_layout = summary.objects_by_layout
        by_layout[layout] = by_layout.get(layout, 0) + 1


def _date_path(epoch_ms: int, with_hour: bool = False) -> str:
    moment = _EPOCH + timedelta(milliseconds=epoch_ms)
    text = f"{moment.year:04d}/{moment.month:02d}/{moment.day:02d}"
    return f"{text}/{moment.hour:02d}" if with_hour else text


class _EventBridgeWriter:
    layout = LAYOUT_EVENTBRIDGE

    def __init__(self, output: _Output, rng: random.Random) -> None:
        self.output = output
        self.rng = rng

    def add(self, finding: dict, delivered_ms: int, *, redelivery: bool = False) -> None:
        del redelivery  # every event is its own object
        rng = self.rng
        event = eventbridge_event(finding, rng, time=_iso(delivered_ms, with_ms=False))
        self.write_event(event, delivered_ms, findings=1)

    def write_event(self, event: dict, delivered_ms: int, *, findings: int) -> None:
        rng = self.rng
        roll = rng.random()
        option = orjson.OPT_INDENT_2 if roll < 0.25 else 0
        suffix = ".json.gz" if rng.random() < 0.15 else ".json"
        key = f"eventbridge/{_date_path(delivered_ms, True)}/{random_uuid(rng)}{suffix}"
        self.output.write_object(
            self.layout, key, orjson.dumps(event, option=option), findings=findings
        )

    def close(self, last_ms: int) -> None:
        del last_ms  # nothing is held back


class _NativeExportWriter:
    """One open gzip stream per account and region, rotated every ``lines_per_object`` lines."""

    layout = LAYOUT_NATIVE_EXPORT

    def __init__(self, output: _Output, rng: random.Random, lines_per_object: int) -> None:
        self.output = output
        self.rng = rng
        self.lines_per_object = lines_per_object
        self.open: dict[tuple[str, str], tuple[BinaryIO, gzip.GzipFile, list[int]]] = {}
        self.carried: dict[tuple[str, str], list[bytes]] = {}

    def add(self, finding: dict, delivered_ms: int, *, redelivery: bool = False) -> None:
        key = (finding["accountId"], finding["region"])
        line = orjson.dumps(finding) + b"\n"
        if redelivery:  # lands in the next object of this account and region
            self.carried.setdefault(key, []).append(line)
            return
        current = self.open.get(key)
        if current is not None and current[2][0] >= self.lines_per_object:
            self._close(key)
            current = None
        if current is None:
            current = self._open(key, delivered_ms)
        _, stream, lines = current
        stream.write(line)
        lines[0] += 1

    def _open(
        self, key: tuple[str, str], delivered_ms: int
    ) -> tuple[BinaryIO, gzip.GzipFile, list[int]]:
        account, region = key
        object_key = (
            f"AWSLogs/{account}/GuardDuty/{region}/{_date_path(delivered_ms)}/"
            f"{random_uuid(self.rng)}.jsonl.gz"
        )
        raw = self.output.path(object_key).open("wb")
        stream = gzip.GzipFile(
            filename="", mode="wb", fileobj=raw, compresslevel=_GZIP_LEVEL, mtime=0
        )
        lines = [0]
        self.open[key] = (raw, stream, lines)
        for line in self.carried.pop(key, ()):
            stream.write(line)
            lines[0] += 1
        return self.open[key]

    def _close(self, key: tuple[str, str]) -> None:
        raw, stream, lines = self.open.pop(key)
        stream.close()
        raw.close()
        self.output.count_object(self.layout, lines[0])

    def close(self, last_ms: int) -> None:
        for key in list(self.open):
            self._close(key)
        for key in list(self.carried):
            self._open(key, last_ms)
            self._close(key)


class _BatchWriter:
    """Findings grouped per account and region into multi-finding objects (arrays or pages)."""

    layout = ""

    def __init__(self, output: _Output, rng: random.Random) -> None:
        self.output = output
        self.rng = rng
        self.batches: dict[tuple[str, str], list[dict]] = {}
        self.carried: dict[tuple[str, str], list[dict]] = {}
        self.limits: dict[tuple[str, str], int] = {}

    def batch_size(self) -> int:
        raise NotImplementedError

    def flush(self, key: tuple[str, str], findings: list[dict]) -> None:
        raise NotImplementedError

    def add_to_batch(self, finding: dict, *, redelivery: bool) -> None:
        key = (finding["accountId"], finding["region"])
        if redelivery:  # lands in the next object of this account and region
            self.carried.setdefault(key, []).append(finding)
            return
        batch = self.batches.get(key)
        if batch is None:
            batch = self.batches[key] = self.carried.pop(key, [])
            self.limits[key] = self.batch_size()
        batch.append(finding)
        if len(batch) >= self.limits[key]:
            self.flush(key, self.batches.pop(key))

    def close(self, last_ms: int = 0) -> None:
        del last_ms
        for key in list(self.batches):
            self.flush(key, self.batches.pop(key))
        for key in list(self.carried):
            self.flush(key, self.carried.pop(key))


class _FindingsApiWriter(_BatchWriter):
    layout = LAYOUT_FINDINGS_API

    def add(self, finding: dict, delivered_ms: int, *, redelivery: bool = False) -> None:
        del delivered_ms
        if redelivery or self.rng.random() < 0.5:
            self._write([finding], array=False)
        else:
            self.add_to_batch(finding, redelivery=False)

    def batch_size(self) -> int:
        return _randint(self.rng, 5, 40)

    def flush(self, key: tuple[str, str], findings: list[dict]) -> None:
        del key
        self._write(findings, array=True)

    def _write(self, findings: list[dict], *, array: bool) -> None:
        rng = self.rng
        first = findings[0]
        option = orjson.OPT_INDENT_2 if rng.random() < 0.3 else 0
        suffix = ".json.gz" if rng.random() < 0.1 else ".json"
        key = f"findings-api/{first['accountId']}/{first['region']}/{random_uuid(rng)}{suffix}"
        payload = orjson.dumps(findings if array else first, option=option)
        self.output.write_object(self.layout, key, payload, findings=len(findings))


class _GetFindingsWriter(_BatchWriter):
    layout = LAYOUT_GET_FINDINGS

    def add(self, finding: dict, delivered_ms: int, *, redelivery: bool = False) -> None:
        del delivered_ms
        self.add_to_batch(finding, redelivery=redelivery)

    def batch_size(self) -> int:
        return _randint(self.rng, 10, _GET_FINDINGS_PAGE_SIZE)

    def flush(self, key: tuple[str, str], findings: list[dict]) -> None:
        account, region = key
        rng = self.rng
        if rng.random() < 0.4:
            page: dict[str, Any] = {"Findings": [to_pascal_case(finding) for finding in findings]}
        else:
            page = {"findings": findings}
        object_key = f"get-findings/{account}/{region}/{random_uuid(rng)}.json"
        self.output.write_object(
            self.layout,
            object_key,
            orjson.dumps(page, option=orjson.OPT_INDENT_2),
            findings=len(findings),
        )

    def write_empty_page(self, account: str, region: str) -> None:
        object_key = f"get-findings/{account}/{region}/{random_uuid(self.rng)}.json"
        self.output.write_object(self.layout, object_key, b'{"findings":[]}', findings=0)


def _non_finding_events(rng: random.Random, moment_ms: int) -> list[dict]:
    account, region = ACCOUNT_REGION_PAIRS[0]
    time = _iso(moment_ms, with_ms=False)
    envelope = {
        "version": "0",
        "source": "aws.guardduty",
        "account": account,
        "time": time,
        "region": region,
    }
    unhealthy = {
        **envelope,
        "id": random_uuid(rng),
        "detail-type": NON_FINDING_DETAIL_TYPES[0],
        "resources": [],
        "detail": {
            "schemaVersion": "1.0",
            "resourceAccountId": account,
            "currentStatus": "UNHEALTHY",
            "previousStatus": "HEALTHY",
            "resourceDetails": {
                "resourceType": "EC2",
                "ec2InstanceDetails": {
                    "instanceId": "i-0" + _stable_hex("instance", account, region, 3, length=16),
                    "instanceType": "m5.large",
                    "agentDetails": {"version": "1.7.0"},
                    "managementType": "AUTO_MANAGED",
                },
            },
            "issue": "The runtime agent stopped sending events.",
            "lastUpdatedAt": time,
        },
    }
    bucket = f"uploads-{_stable_hex('bucket', account, length=8)}"
    scan_result = {
        **envelope,
        "id": random_uuid(rng),
        "detail-type": NON_FINDING_DETAIL_TYPES[1],
        "resources": [
            f"arn:aws:guardduty:{region}:{account}:malware-protection-plan/{_hex(rng, 20)}"
        ],
        "detail": {
            "schemaVersion": "1.0",
            "scanStatus": "COMPLETED",
            "resourceType": "S3_OBJECT",
            "s3ObjectDetails": {
                "bucketName": bucket,
                "objectKey": "incoming/invoice-2291.pdf",
                "eTag": _hex(rng, 32),
                "versionId": _hex(rng, 16),
                "s3Throttled": False,
            },
            "scanResultDetails": {"scanResultStatus": "NO_THREATS_FOUND", "threats": None},
        },
    }
    return [unhealthy, scan_result]


# ---------------------------------------------------------------------------------------------
# The corpus


@dataclass
class _Plan:
    """How one finding id is generated and delivered."""

    kind: str
    versions: int
    sample_form: str | None = None
    archived: bool = False
    ipv6: bool = False
    out_of_order: bool = False
    duplicate: bool = False
    layout: str | None = None


# A deterministic opening so that every feature is present even in a tiny corpus.
_SHOWCASE = (
    _Plan("network_inbound", 4, out_of_order=True, layout=LAYOUT_EVENTBRIDGE),
    _Plan("network_outbound", 2, ipv6=True),
    _Plan("port_probe", 3, out_of_order=True, layout=LAYOUT_NATIVE_EXPORT),
    _Plan("api_remote_ip", 2, duplicate=True, layout=LAYOUT_EVENTBRIDGE),
    _Plan("api_domain", 1),
    _Plan("dns", 2, duplicate=True, layout=LAYOUT_NATIVE_EXPORT),
    _Plan("kubernetes", 2),
    _Plan("rds", 2, archived=True),
    _Plan("runtime", 1),
    _Plan("malware", 1),
    _Plan("attack_sequence", 2),
    _Plan("network_inbound", 1, sample_form="flag"),
    _Plan("dns", 1, sample_form="string"),
    _Plan("attack_sequence", 1, sample_form="value"),
    _Plan("port_probe", 2, ipv6=True, layout=LAYOUT_GET_FINDINGS),
    _Plan("api_remote_ip", 1, ipv6=True, layout=LAYOUT_FINDINGS_API),
)

_VERSION_COUNTS = (1, 2, 3, 4, 5, 6, 8, 10, 14, 20)
_VERSION_CUMULATIVE = tuple(accumulate((50, 18, 10, 7, 5, 4, 3, 1.5, 1, 0.5)))
_LAYOUT_WEIGHTS = {
    LAYOUT_EVENTBRIDGE: 35,
    LAYOUT_NATIVE_EXPORT: 35,
    LAYOUT_FINDINGS_API: 15,
    LAYOUT_GET_FINDINGS: 15,
}
_KIND_ACTION_TYPES = {
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
_KIND_ARGUMENTS = {
    "network_outbound": {"connection_direction": "OUTBOUND"},
    "api_domain": {"caller_type": "Domain"},
    "runtime": {"feature_name": "RuntimeMonitoring"},
    "malware": {"feature_name": "EbsVolumeScan"},
    "attack_sequence": {"feature_name": "Correlation"},
}


def _random_plan(rng: random.Random) -> _Plan:
    kind = _weighted(rng, _KINDS, _KIND_CUMULATIVE)
    roll = rng.random()
    sample_form = _pick(rng, SAMPLE_FORMS) if roll < 0.03 else None
    if sample_form is not None:
        versions = 1
    elif kind == "attack_sequence":
        versions = _randint(rng, 1, 3)
    else:
        versions = _weighted(rng, _VERSION_COUNTS, _VERSION_CUMULATIVE)
    return _Plan(
        kind,
        versions,
        sample_form=sample_form,
        archived=rng.random() < 0.05,
        ipv6=rng.random() < 0.07,
        out_of_order=versions > 1 and rng.random() < 0.12,
        duplicate=rng.random() < 0.05,
    )


def _timeline(rng: random.Random, versions: int, start_ms: int, end_ms: int) -> list[int]:
    """Publication times of a finding's versions: increasing, whole minutes apart, before end."""
    gaps = [
        _pick(rng, (900, 3600, 21600)) * 1000 * _randint(rng, 1, 4) + _randrange(rng, 60_000)
        for _ in range(versions - 1)
    ]
    latest_start = end_ms - sum(gaps) - 60_000
    if latest_start <= start_ms:  # too long for the window: squeeze the gaps
        available = (end_ms - start_ms) // 2
        gaps = [max(61_000, available // versions)] * (versions - 1)
        latest_start = max(start_ms, end_ms - sum(gaps) - 60_000)
    created = _randrange(rng, start_ms, max(start_ms + 1, latest_start))
    times = [created]
    for gap in gaps:
        times.append(times[-1] + gap)
    return times


def _versions_of(
    rng: random.Random, plan: _Plan, start_ms: int, end_ms: int, finding_id: str
) -> tuple[list[dict], list[int]]:
    """The versions of one finding, oldest first, and their publication times."""
    times = _timeline(rng, plan.versions, start_ms, end_ms)
    with_ms = rng.random() >= 0.1
    created = _EPOCH + timedelta(milliseconds=times[0])
    first = build_finding(
        rng,
        action_type=_KIND_ACTION_TYPES[plan.kind],
        finding_id=finding_id,
        created_at=created.replace(tzinfo=UTC),
        count=_randint(rng, 1, 5),
        sample_form=plan.sample_form,
        archived=plan.archived and plan.versions == 1,
        ipv6=plan.ipv6,
        with_milliseconds=with_ms,
        **_KIND_ARGUMENTS.get(plan.kind, {}),
    )
    versions = [first]
    archive_from = plan.versions // 2 if plan.archived else plan.versions
    if not with_ms:
        times = [moment - moment % 1000 for moment in times]
    for number, updated_ms in enumerate(times[1:], start=1):
        versions.append(
            _next_version(
                versions[-1],
                rng,
                updated_ms=updated_ms,
                added_count=_randint(rng, 1, 40),
                new_actor=rng.random() < 0.3,
                archived=True if number >= archive_from else None,
                with_ms=with_ms,
            )
        )
    return versions, times


def generate_demo_corpus(
    target_dir: Path,
    *,
    findings: int = 5000,
    seed: int = 7,
    end_date: date | None = None,
    days: int = 45,
    layouts: tuple[str, ...] | list[str] = ALL_LAYOUTS,
    lines_per_object: int = _NATIVE_LINES_PER_OBJECT,
) -> CorpusSummary:
    """Write a deterministic corpus of GuardDuty findings under ``target_dir``.

    Args:
        target_dir: Where to write (created if missing). Existing files are left alone, so use
            an empty directory for a reproducible corpus.
        findings: Number of distinct finding versions to generate (exact).
        seed: Seed of the random source; the same seed and end date give identical files.
        end_date: Last UTC day of the corpus; today's UTC date when None.
        days: Number of days covered, ending with ``end_date``.
        layouts: Which input layouts to write (see `ALL_LAYOUTS`); each finding id goes mainly to
            one of them.
        lines_per_object: Findings per native export object at most.

    Returns:
        What was written.
    """
    if end_date is None:
        end_date = datetime.now(UTC).date()
    unknown = set(layouts) - set(ALL_LAYOUTS)
    if unknown or not layouts:
        raise ValueError(f"layouts must be a non-empty subset of {ALL_LAYOUTS}, not {layouts!r}")
    if findings < 0 or days < 1 or lines_per_object < 1:
        raise ValueError("findings must be >= 0, days and lines_per_object >= 1")
    target_dir = Path(target_dir)
    target_dir.mkdir(parents=True, exist_ok=True)
    summary = CorpusSummary(target_dir=str(target_dir), seed=seed, end_date=end_date.isoformat())
    end_ms = _to_ms(datetime.combine(end_date + timedelta(days=1), datetime.min.time(), UTC))
    # Nothing dated after now: the ingest quarantines timestamps from the future.
    end_ms = min(end_ms, _to_ms(datetime.now(UTC)))
    start_ms = end_ms - days * 86_400_000
    content_rng = random.Random(seed)  # noqa: S311 - reproducible demo data, not security
    delivery_rng = random.Random(f"delivery-{seed}")  # noqa: S311 - as above
    _write_corpus(
        summary, target_dir, tuple(layouts), findings, start_ms, end_ms,
        content_rng, delivery_rng, lines_per_object,
    )  # fmt: skip
    return summary


def _write_corpus(
    summary: CorpusSummary,
    target_dir: Path,
    layouts: tuple[str, ...],
    findings: int,
    start_ms: int,
    end_ms: int,
    content_rng: random.Random,
    delivery_rng: random.Random,
    lines_per_object: int,
) -> None:
    output = _Output(target_dir, summary)
    writers: dict[str, Any] = {}
    for layout in layouts:
        if layout == LAYOUT_EVENTBRIDGE:
            writers[layout] = _EventBridgeWriter(output, delivery_rng)
        elif layout == LAYOUT_NATIVE_EXPORT:
            writers[layout] = _NativeExportWriter(output, delivery_rng, lines_per_object)
        elif layout == LAYOUT_FINDINGS_API:
            writers[layout] = _FindingsApiWriter(output, delivery_rng)
        else:
            writers[layout] = _GetFindingsWriter(output, delivery_rng)
    any_layout = (layouts, tuple(accumulate(_LAYOUT_WEIGHTS[name] for name in layouts)))
    # GuardDuty does not export archived findings to S3.
    not_exported = tuple(name for name in layouts if name != LAYOUT_NATIVE_EXPORT) or layouts
    archived_layout = (not_exported, tuple(accumulate(_LAYOUT_WEIGHTS[n] for n in not_exported)))
    deliveries_by_layout: Counter[str] = Counter()
    action_types: Counter[str] = Counter()

    def deliver(layout: str, finding: dict, delivered_ms: int, redelivery: bool) -> None:
        writers[layout].add(finding, delivered_ms, redelivery=redelivery)
        deliveries_by_layout[layout] += 1

    remaining = findings
    plan_number = 0
    while remaining > 0:
        plan = _SHOWCASE[plan_number] if plan_number < len(_SHOWCASE) else _random_plan(content_rng)
        plan_number += 1
        if plan.versions > remaining:
            plan = _Plan(plan.kind, remaining, sample_form=plan.sample_form, ipv6=plan.ipv6)
        remaining -= plan.versions
        versions, times = _versions_of(content_rng, plan, start_ms, end_ms, _hex(content_rng, 32))
        current = versions[-1]
        summary.finding_ids += 1
        summary.versions += len(versions)
        action_types[current["service"].get("action", {}).get("actionType", "NONE")] += 1
        summary.sample_findings += plan.sample_form is not None
        summary.archived_findings += bool(current["service"]["archived"])

        rng = delivery_rng
        primary = plan.layout if plan.layout in writers else None
        if primary is None:
            primary = _weighted(rng, *(archived_layout if plan.archived else any_layout))
        delivery_times = [moment + _randrange(rng, 5_000, 300_000) for moment in times]
        order = list(range(len(versions)))
        if plan.out_of_order and len(versions) > 1:
            swapped = _randrange(rng, len(versions) - 1)
            order[swapped], order[swapped + 1] = order[swapped + 1], order[swapped]
            # The older version arrives after the newer one.
            delivery_times[swapped] = delivery_times[swapped + 1] + _randrange(
                rng, 60_000, 3_600_000
            )
            summary.out_of_order_deliveries += 1
        duplicated = _randrange(rng, len(versions)) if plan.duplicate else -1
        for index in order:
            layout = primary
            if plan.layout is None and rng.random() < 0.1:
                layout = _weighted(rng, *any_layout)
            deliver(layout, versions[index], delivery_times[index], False)
            if index == duplicated:
                again = layout if plan.layout else _weighted(rng, *any_layout)
                deliver(again, versions[index], delivery_times[index] + 60_000, True)
                summary.duplicate_deliveries += 1

    last_ms = end_ms - 1
    if LAYOUT_EVENTBRIDGE in writers:
        for event in _non_finding_events(delivery_rng, end_ms - 7_200_000):
            writers[LAYOUT_EVENTBRIDGE].write_event(event, end_ms - 7_200_000, findings=0)
    if LAYOUT_GET_FINDINGS in writers:
        writers[LAYOUT_GET_FINDINGS].write_empty_page(*ACCOUNT_REGION_PAIRS[1])
    for writer in writers.values():
        writer.close(last_ms)
    summary.deliveries = sum(deliveries_by_layout.values())
    summary.deliveries_by_layout = dict(sorted(deliveries_by_layout.items()))
    summary.findings_by_action_type = dict(sorted(action_types.items()))
    summary.objects_by_layout = dict(sorted(summary.objects_by_layout.items()))


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m tools.demo_corpus --out DIR [options]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="target directory")
    parser.add_argument("--findings", type=int, default=5000, help="finding versions to write")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--end-date", type=date.fromisoformat, default=None, help="YYYY-MM-DD (default: today UTC)"
    )
    parser.add_argument("--days", type=int, default=45)
    parser.add_argument(
        "--layouts",
        default=",".join(ALL_LAYOUTS),
        help=f"comma-separated subset of {','.join(ALL_LAYOUTS)}",
    )
    parser.add_argument("--lines-per-object", type=int, default=_NATIVE_LINES_PER_OBJECT)
    args = parser.parse_args(argv)
    summary = generate_demo_corpus(
        args.out,
        findings=args.findings,
        seed=args.seed,
        end_date=args.end_date,
        days=args.days,
        layouts=tuple(name.strip() for name in args.layouts.split(",") if name.strip()),
        lines_per_object=args.lines_per_object,
    )
    print(summary.one_line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
