"""The ``service.action`` of a finding for each kind, and how a later occurrence changes it."""

from __future__ import annotations

import random
from typing import Any

import orjson

from tools.demo_corpus.geography import private_ipv4, remote_ip_details
from tools.demo_corpus.random_values import pick, randint, random_hex, randrange

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


def action_for(
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
        port, port_name = pick(rng, _PORTS[:3] if "BruteForce" in finding_type else _PORTS)
        ephemeral = randrange(rng, 32768, 61000)
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
                "localIpDetails": {"ipAddressV4": private_ipv4(rng)},
                "protocol": "UDP" if "Udp" in finding_type else "TCP",
                "blocked": False,
            },
        }
    if kind == "port_probe":
        details = []
        for _ in range(randint(rng, 2, 6)):
            port, port_name = pick(rng, _PORTS)
            details.append(
                {
                    "localPortDetails": {"port": port, "portName": port_name},
                    "localIpDetails": {"ipAddressV4": private_ipv4(rng)},
                    "remoteIpDetails": remote_ip_details(
                        rng, ipv6=ipv6 and rng.random() < 0.5, sample=sample
                    ),
                }
            )
        return {
            "actionType": "PORT_PROBE",
            "portProbeAction": {"portProbeDetails": details, "blocked": False},
        }
    if kind in ("api_remote_ip", "api_domain"):
        api, service = pick(rng, _APIS)
        call: dict[str, Any] = {"api": api, "serviceName": service}
        if kind == "api_remote_ip":
            call |= {
                "callerType": "Remote IP",
                "remoteIpDetails": remote(),
                "errorCode": pick(rng, ("", "", "AccessDenied")),
                "userAgent": pick(rng, _USER_AGENTS),
                "affectedResources": {},
            }
        else:  # an AWS service acting for the account: no remote address
            call |= {
                "callerType": "Domain",
                "domainDetails": {
                    "domain": pick(rng, ("cloudformation.amazonaws.com", "ec2.amazonaws.com"))
                },
                "affectedResources": {
                    "AWS::IAM::Role": f"arn:aws:iam::{random_hex(rng, 12)}:role/deploy"
                },
            }
        return {"actionType": "AWS_API_CALL", "awsApiCallAction": call}
    if kind == "dns":
        domain = pick(rng, _BAD_DOMAINS)
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
                "requestUri": pick(rng, ("/api/v1/secrets", "/api/v1/namespaces/kube-system/pods",
                                          "/apis/rbac.authorization.k8s.io/v1/clusterroles")),
                "verb": pick(rng, ("list", "get", "create", "watch")),
                "sourceIPs": [private_ipv4(rng)],
                "userAgent": "kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819",
                "remoteIpDetails": remote(),
                "statusCode": pick(rng, (200, 200, 403)),
                "namespace": pick(rng, ("kube-system", "default", "payments")),
                "resource": pick(rng, ("secrets", "pods", "clusterroles")),
            },
        }  # fmt: skip
    if kind == "rds":
        failed = randint(rng, 0, 400)
        return {
            "actionType": "RDS_LOGIN_ATTEMPT",
            "rdsLoginAttemptAction": {
                "remoteIpDetails": remote(),
                "LoginAttributes": [
                    {
                        "user": pick(rng, ("admin", "postgres", "sa")),
                        "application": pick(rng, ("psql", "", "mysql")),
                        "failedLoginAttempts": failed,
                        "successfulLoginAttempts": 0 if "Failed" in finding_type else 1,
                    }
                ],
            },
        }
    return None


def first_remote_ip(action: dict | None) -> str | None:
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


def refreshed_action(rng: random.Random, action: dict) -> dict:
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
            port, port_name = pick(rng, _PORTS)
            probes.append(
                {
                    "localPortDetails": {"port": port, "portName": port_name},
                    "localIpDetails": probes[0].get("localIpDetails", {}),
                    "remoteIpDetails": remote_ip_details(rng),
                }
            )
            del probes[: max(0, len(probes) - 8)]
    return fresh
