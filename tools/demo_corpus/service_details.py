"""The feature details of findings without a network action, and ``service.additionalInfo``."""

from __future__ import annotations

import random
from typing import Any

from tools.demo_corpus.geography import endpoint
from tools.demo_corpus.random_values import pick, randint, random_hex, random_uuid, randrange
from tools.demo_corpus.resources import USERS

_MALWARE_NAMES = ("EICAR-Test-File (not a virus)", "Linux.Trojan.Mirai", "Linux.Miner.XMRig",
                  "Linux.Backdoor.Tsunami")  # fmt: skip


def runtime_details(rng: random.Random, finding_type: str) -> dict:
    process_name = pick(rng, ("curl", "sh", "python3", "xmrig", "nc"))
    context: dict[str, Any] = {}
    if "DockerSocket" in finding_type:
        context = {"socketPath": "/var/run/docker.sock"}
    elif "ReverseShell" in finding_type:
        context = {"ianaProtocolNumber": 6, "addressFamily": "AF_INET"}
    return {
        "process": {
            "name": process_name,
            "executablePath": f"/usr/bin/{process_name}",
            "executableSha256": random_hex(rng, 64),
            "pid": randrange(rng, 100, 40000),
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


def ebs_volume_scan_details(rng: random.Random, created_ms: int, finding_type: str) -> dict:
    threat = pick(rng, _MALWARE_NAMES)
    severity = "HIGH" if "Malicious" in finding_type else "MEDIUM"
    return {
        "scanId": random_hex(rng, 32),
        "scanStartedAt": created_ms - 600_000,
        "scanCompletedAt": created_ms - 60_000,
        "triggerFindingId": random_hex(rng, 32),
        "sources": ["Amazon GuardDuty"],
        "scanType": "GUARDDUTY_INITIATED",
        "scanDetections": {
            "scannedItemCount": {
                "totalGb": 8,
                "files": randrange(rng, 50_000, 200_000),
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
                                "filePath": f"/home/ec2-user/.cache/{random_hex(rng, 8)}",
                                "volumeArn": "",
                                "hash": random_hex(rng, 64),
                                "fileName": random_hex(rng, 8),
                            }
                        ],
                    }
                ],
            },
        },
    }


def detection_sequence(rng: random.Random, created_ms: int, account_id: str, region: str) -> dict:
    endpoints = [endpoint(rng, number) for number in range(randint(rng, 1, 4))]
    signal_names = (
        "UnauthorizedAccess:IAMUser/TorIPCaller",
        "Stealth:IAMUser/CloudTrailLoggingDisabled",
        "Discovery:S3/MaliciousIPCaller",
        "Persistence:IAMUser/AnomalousBehavior",
    )
    signals = []
    for number, name in enumerate(rng.sample(signal_names, randint(rng, 2, 4))):
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
                "severity": pick(rng, (2.0, 5.0, 8.0)),
                "count": randint(rng, 1, 20),
                "resourceUids": [f"arn:aws:iam::{account_id}:user/{pick(rng, USERS)}"],
                "actorIds": ["actor-0"],
                "endpointIds": [endpoint["id"] for endpoint in endpoints],
            }
        )
    return {
        "sequence": {
            "uid": random_hex(rng, 32),
            "description": "A sequence of actions indicating a possible credential compromise.",
            "actors": [{"id": "actor-0", "session": {"mfaStatus": "DISABLED"}}],
            "resources": [
                {
                    "uid": f"arn:aws:iam::{account_id}:user/{pick(rng, USERS)}",
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


def additional_info(rng: random.Random, sample_form: str | None, threat_list: str | None) -> dict:
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
