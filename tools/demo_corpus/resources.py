"""The ``resource`` of a finding for each kind: instances, access keys, buckets, clusters, ..."""

from __future__ import annotations

import random
from typing import Any

from tools.demo_corpus.geography import private_ipv4
from tools.demo_corpus.random_values import pick, random_hex, random_uuid, randrange, stable_hex

USERS = ("alice.devops", "build-bot", "j.martin", "svc-reporting", "terraform-ci", "root")
_INSTANCE_TYPES = ("t3.micro", "t3.medium", "m5.large", "c6i.xlarge", "r6g.large", "m7g.medium")
_CONTAINER_IMAGES = (
    "public.ecr.aws/nginx/nginx:1.25",
    "docker.io/library/redis:7.2",
    "ghcr.io/acme/payments-api:3.4.1",
    "docker.io/library/python:3.12-slim",
)


def _instance_details(rng: random.Random, account_id: str, region: str, sample: bool) -> dict:
    if sample:
        instance_id = "i-99999999"
    else:
        instance_id = "i-0" + stable_hex(
            "instance", account_id, region, randrange(rng, 40), length=16
        )
    private_ip = private_ipv4(rng)
    public_ip = None
    if rng.random() >= 0.3:
        octets = (pick(rng, (3, 18, 34, 52, 54)), randrange(rng, 256), randrange(rng, 256))
        public_ip = ".".join(map(str, octets)) + f".{randrange(rng, 1, 255)}"
    interface: dict[str, Any] = {
        "ipv6Addresses": [],
        "networkInterfaceId": "eni-0" + stable_hex("eni", instance_id, length=16),
        "privateDnsName": f"ip-{private_ip.replace('.', '-')}.{region}.compute.internal",
        "privateIpAddress": private_ip,
        "privateIpAddresses": [
            {
                "privateDnsName": f"ip-{private_ip.replace('.', '-')}.{region}.compute.internal",
                "privateIpAddress": private_ip,
            }
        ],
        "subnetId": "subnet-0" + stable_hex("subnet", account_id, region, length=16),
        "vpcId": "vpc-0" + stable_hex("vpc", account_id, region, length=16),
        "securityGroups": [
            {"groupName": "web-tier", "groupId": "sg-0" + stable_hex("sg", account_id, length=16)}
        ],
    }
    if public_ip:
        interface["publicDnsName"] = f"ec2-{public_ip.replace('.', '-')}.compute-1.amazonaws.com"
        interface["publicIp"] = public_ip
    return {
        "instanceId": instance_id,
        "instanceType": pick(rng, _INSTANCE_TYPES),
        "outpostArn": None,
        "launchTime": "2025-03-11T08:14:52.000Z",
        "platform": None,
        "productCodes": [],
        "iamInstanceProfile": {
            "arn": f"arn:aws:iam::{account_id}:instance-profile/app-server",
            "id": "AIPA" + stable_hex("profile", account_id, length=17).upper(),
        },
        "networkInterfaces": [interface],
        "tags": [
            {"key": "Name", "value": f"app-{instance_id[-4:]}"},
            {"key": "env", "value": "prod"},
        ],
        "instanceState": "running",
        "availabilityZone": f"{region}{pick(rng, 'abc')}",
        "imageId": "ami-0" + stable_hex("ami", region, length=16),
        "imageDescription": "Amazon Linux 2023 AMI",
    }


def _access_key_details(rng: random.Random, account_id: str) -> dict:
    user = pick(rng, USERS)
    user_type = "Root" if user == "root" else pick(rng, ("IAMUser", "IAMUser", "AssumedRole"))
    return {
        "accessKeyId": ("ASIA" if user_type == "AssumedRole" else "AKIA")
        + stable_hex("key", account_id, user, length=16).upper(),
        "principalId": "AIDA" + stable_hex("principal", account_id, user, length=17).upper(),
        "userName": user,
        "userType": user_type,
    }


def resource_for(rng: random.Random, kind: str, account_id: str, region: str, sample: bool) -> dict:
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
            bucket = f"acme-{stable_hex('bucket', account_id, randrange(rng, 6), length=8)}"
            resource["resourceType"] = "S3Bucket"
            resource["s3BucketDetails"] = [
                {
                    "arn": f"arn:aws:s3:::{bucket}",
                    "name": bucket,
                    "type": "Destination",
                    "createdAt": 1_700_000_000 + randrange(rng, 10_000_000) + 0.5,
                    "owner": {"id": stable_hex("owner", account_id, length=32)},
                    "tags": [],
                    "defaultServerSideEncryption": {"encryptionType": "AES256"},
                }
            ]
        return resource
    if kind == "kubernetes":
        cluster = f"eks-{pick(rng, ('prod', 'staging', 'data'))}"
        return {
            "resourceType": "EKSCluster",
            "eksClusterDetails": {
                "name": cluster,
                "arn": f"arn:aws:eks:{region}:{account_id}:cluster/{cluster}",
                "vpcId": "vpc-0" + stable_hex("vpc", account_id, region, length=16),
                "status": "ACTIVE",
                "tags": [],
                "createdAt": 1_690_000_000.123,
            },
            "kubernetesDetails": {
                "kubernetesUserDetails": {
                    "username": pick(rng, ("system:anonymous", "kubernetes-admin", "ci-deployer")),
                    "uid": random_uuid(rng),
                    "groups": ["system:authenticated"],
                },
                "kubernetesWorkloadDetails": None,
            },
        }
    if kind == "rds":
        db = f"orders-db-{randrange(rng, 1, 4)}"
        return {
            "resourceType": "RDSDBInstance",
            "rdsDbInstanceDetails": {
                "dbInstanceIdentifier": db,
                "engine": pick(rng, ("aurora-postgresql", "aurora-mysql")),
                "engineVersion": "15.4",
                "dbClusterIdentifier": "orders-cluster",
                "dbInstanceArn": f"arn:aws:rds:{region}:{account_id}:db:{db}",
                "tags": [],
            },
            "rdsDbUserDetails": {
                "user": pick(rng, ("admin", "app_rw", "postgres")),
                "application": "psql",
                "database": "orders",
                "ssl": "true",
                "authMethod": "PASSWORD",
            },
        }
    if kind == "runtime":
        cluster = f"ecs-{pick(rng, ('web', 'workers'))}"
        return {
            "resourceType": "Container",
            "ecsClusterDetails": {
                "name": cluster,
                "arn": f"arn:aws:ecs:{region}:{account_id}:cluster/{cluster}",
                "status": "ACTIVE",
                "taskDetails": {
                    "arn": (
                        f"arn:aws:ecs:{region}:{account_id}:task/{cluster}/{random_hex(rng, 32)}"
                    ),
                    "definitionArn": f"arn:aws:ecs:{region}:{account_id}:task-definition/api:7",
                    "launchType": pick(rng, ("FARGATE", "EC2")),
                },
            },
            "containerDetails": {
                "containerRuntime": "containerd",
                "id": random_hex(rng, 64),
                "name": None,
                "image": pick(rng, _CONTAINER_IMAGES),
                "imagePrefix": None,
            },
        }
    if kind == "malware":
        details = _instance_details(rng, account_id, region, sample)
        volume = "vol-0" + stable_hex("vol", details["instanceId"], length=16)
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
                            f"arn:aws:ec2:{region}:{account_id}:snapshot/"
                            f"snap-0{random_hex(rng, 17)}"
                        ),
                        "kmsKeyArn": None,
                    }
                ],
                "skippedVolumeDetails": [],
            },
        }
    return {"resourceType": "AttackSequence"}


def resource_label(resource: dict) -> str:
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
