"""The three fact marts the offline dashboard reads, written straight into a small DuckDB file
for a handful of hand-made findings (hostile strings among them)."""

from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from tests.helpers.dbt_lake_builder import severity_label

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HOSTILE_FINDING_TYPE = "Recon:EC2/<script>alert('x')</script>"
HOSTILE_COUNTRY_NAME = 'Germany"><img src=x onerror=alert(1)>'

# (finding type, severity, action type, direction, created day offset, count, endpoints)
# where an endpoint is (ip, country code, country name, latitude, longitude).
FINDINGS = [
    (
        "UnauthorizedAccess:EC2/SSHBruteForce",
        8.0,
        "NETWORK_CONNECTION",
        "INBOUND",
        0,
        12,
        [("198.51.100.7", "CN", "China", 39.9, 116.4)],
    ),
    (
        "UnauthorizedAccess:EC2/SSHBruteForce",
        8.0,
        "NETWORK_CONNECTION",
        "INBOUND",
        1,
        3,
        [("203.0.113.9", "RU", "Russia", 55.7, 37.6)],
    ),
    (
        "Recon:EC2/PortProbeUnprotectedPort",
        5.0,
        "PORT_PROBE",
        None,
        1,
        40,
        [
            ("192.0.2.10", "US", "United States", 37.7, -122.4),
            ("192.0.2.11", "BR", "Brazil", -23.5, -46.6),
            ("192.0.2.12", "SG", "Singapore", 1.35, 103.8),
        ],
    ),
    (
        HOSTILE_FINDING_TYPE,
        9.5,
        "AWS_API_CALL",
        None,
        3,
        1,
        [("2001:db8::1", "DE", HOSTILE_COUNTRY_NAME, 52.5, 13.4)],
    ),
    (
        "AttackSequence:IAM/CompromisedCredentials",
        9.0,
        "NONE",
        None,
        3,
        1,
        [("192.0.2.10", "US", "United States", 37.7, -122.4)],
    ),
    (
        "Policy:S3/BucketBlockPublicAccessDisabled",
        4.0,
        "AWS_API_CALL",
        None,
        3,
        2,
        [("192.0.2.99", None, None, None, None)],
    ),
]
FIRST_DAY = datetime(2024, 5, 1, 8, 30)
# Finding index -> hours from creation to its first archived version; the others are open.
ARCHIVED_AFTER_HOURS = {0: 2.0, 2: 200.0}
TARGET_HOURS = {"Critical": 24.0, "High": 24.0, "Medium": 168.0, "Low": 720.0}


def build_marts(path: Path, schema: str = "main") -> None:
    """Write the three fact marts the dashboard reads (data-contract.md) for ``FINDINGS``."""
    with duckdb.connect(str(path)) as connection:
        [(catalog,)] = connection.execute("select current_database()").fetchall()
        qualified = f'"{catalog}".{schema}'

        def run(sql: str, parameters: list | None = None) -> None:
            connection.execute(sql.format(schema=qualified), parameters)

        run("create schema if not exists {schema}")
        run(
            """
            create table {schema}.fct_findings (
                finding_id varchar, account_id varchar, region varchar, finding_type varchar,
                threat_purpose varchar, resource_type varchar, severity double,
                severity_label varchar, action_type varchar, connection_direction varchar,
                is_archived boolean, occurrence_count bigint, created_at timestamp,
                updated_at timestamp, first_seen_at timestamp, last_seen_at timestamp,
                title varchar
            )
            """
        )
        run(
            """
            create table {schema}.fct_finding_remote_endpoints (
                finding_id varchar, endpoint_source varchar, ip_address varchar,
                ip_version integer, country_code varchar, country_name varchar, city varchar,
                latitude double, longitude double, asn bigint, asn_org varchar
            )
            """
        )
        run(
            """
            create table {schema}.fct_finding_archive_times (
                finding_id varchar, severity_label varchar, account_id varchar, region varchar,
                created_at timestamp, first_archived_at timestamp, hours_to_archive double,
                target_hours double, is_within_target boolean, is_open_past_target boolean,
                evaluated_at timestamp
            )
            """
        )
        evaluated_at = FIRST_DAY + timedelta(days=30)
        for index, (finding_type, severity, action, direction, day, count, endpoints) in enumerate(
            FINDINGS
        ):
            created_at = FIRST_DAY + timedelta(days=day)
            label = severity_label(severity)
            account, region = f"11111111111{index % 2}", "eu-west-1" if index == 3 else "us-east-1"
            run(
                "insert into {schema}.fct_findings values "
                "(?, ?, ?, ?, ?, 'Instance', ?, ?, ?, ?, false, ?, ?, ?, ?, ?, ?)",
                [
                    f"f{index}",
                    account,
                    region,
                    finding_type,
                    finding_type.split(":")[0],
                    severity,
                    label,
                    action,
                    direction,
                    count,
                    created_at,
                    created_at + timedelta(hours=5),
                    created_at - timedelta(hours=1),
                    created_at + timedelta(hours=4),
                    f"Finding {index}",
                ],
            )
            for ip, code, name, latitude, longitude in endpoints:
                run(
                    "insert into {schema}.fct_finding_remote_endpoints values "
                    "(?, 'networkConnectionAction', ?, ?, ?, ?, 'City', ?, ?, 64500, 'Example AS')",
                    [f"f{index}", ip, 6 if ":" in ip else 4, code, name, latitude, longitude],
                )
            hours = ARCHIVED_AFTER_HOURS.get(index)
            target = TARGET_HOURS[label]
            age = (evaluated_at - created_at).total_seconds() / 3600
            run(
                "insert into {schema}.fct_finding_archive_times values "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    f"f{index}",
                    label,
                    account,
                    region,
                    created_at,
                    created_at + timedelta(hours=hours) if hours is not None else None,
                    hours,
                    target,
                    hours is not None and hours <= target,
                    hours is None and age > target,
                    evaluated_at,
                ],
            )
