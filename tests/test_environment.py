"""Configuration: defaults, validation of values that reach SQL or paths, and one reading."""

import re
from pathlib import Path

import pytest

from orchestration.lib.environment import ConfigurationError, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for variable in (
        "GUARDDUTY_SOURCE_URI",
        "GUARDDUTY_LAKE_URI",
        "GUARDDUTY_DUCKDB_PATH",
        "GUARDDUTY_REPORT_DIR",
        "GUARDDUTY_DATA_DIR",
        "DBT_TARGET",
        "GUARDDUTY_GLUE_DATABASE",
        "ATHENA_SCHEMA",
        "QUICKSIGHT_ACCOUNT_ID",
        "QUICKSIGHT_EDITION",
        "QUICKSIGHT_DATASET_PREFIX",
        "GUARDDUTY_PARTITIONS_START",
        "GUARDDUTY_PIPELINE_CRON",
    ):
        monkeypatch.delenv(variable, raising=False)


def test_with_nothing_set_everything_is_local_under_data(monkeypatch, tmp_path):
    monkeypatch.setenv("GUARDDUTY_DATA_DIR", str(tmp_path))
    settings = load_settings()
    assert settings.dbt_target == "duckdb" and not settings.uses_athena
    assert settings.source_is_default
    assert settings.source_uri == str(tmp_path / "demo_corpus")
    assert settings.lake_uri == str(tmp_path / "lake")
    assert settings.duckdb_path == str(tmp_path / "warehouse.duckdb")
    assert settings.report_dir == str(tmp_path / "reports")


def test_local_paths_are_resolved_to_absolute_normalised_paths(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GUARDDUTY_LAKE_URI", "lake/../elsewhere/./lake")
    assert load_settings().lake_uri == str(tmp_path / "elsewhere" / "lake")


def test_s3_uris_are_kept_and_other_schemes_refused(monkeypatch):
    monkeypatch.setenv("GUARDDUTY_SOURCE_URI", "s3://raw-bucket/guardduty/")
    assert load_settings().source_uri == "s3://raw-bucket/guardduty"
    monkeypatch.setenv("GUARDDUTY_SOURCE_URI", "http://example.com/raw")
    with pytest.raises(ConfigurationError, match="only local paths and s3://"):
        load_settings()
    monkeypatch.setenv("GUARDDUTY_SOURCE_URI", "s3:///no-bucket")
    with pytest.raises(ConfigurationError, match="no bucket"):
        load_settings()


@pytest.mark.parametrize(
    "value", ["marts; drop table x", "Upper", "with-dash", "1starts_with_digit", "a b"]
)
def test_sql_identifiers_from_configuration_are_validated(monkeypatch, value):
    monkeypatch.setenv("ATHENA_SCHEMA", value)
    with pytest.raises(ConfigurationError, match="ATHENA_SCHEMA"):
        load_settings()
    monkeypatch.delenv("ATHENA_SCHEMA")
    monkeypatch.setenv("GUARDDUTY_GLUE_DATABASE", value)
    with pytest.raises(ConfigurationError, match="GUARDDUTY_GLUE_DATABASE"):
        load_settings()


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DBT_TARGET", "postgres", "DBT_TARGET"),
        ("QUICKSIGHT_EDITION", "premium", "QUICKSIGHT_EDITION"),
        ("QUICKSIGHT_ACCOUNT_ID", "12345", "12-digit"),
        ("QUICKSIGHT_DATASET_PREFIX", "a/b", "QUICKSIGHT_DATASET_PREFIX"),
        ("GUARDDUTY_INGEST_CONCURRENCY", "0", "at least 1"),
        ("GUARDDUTY_MAX_OBJECT_BYTES", "lots", "whole number"),
        ("GUARDDUTY_PARTITIONS_START", "2024-13-01", "GUARDDUTY_PARTITIONS_START"),
        ("GUARDDUTY_PIPELINE_CRON", "every hour", "five fields"),
    ],
)
def test_bad_values_fail_with_the_variable_named(monkeypatch, variable, value, message):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=message):
        load_settings()


def test_schedule_and_partition_overrides_are_settings(monkeypatch):
    assert load_settings().partitions_start == "2024-01-01"
    assert load_settings().pipeline_cron_override == ""
    monkeypatch.setenv("GUARDDUTY_PARTITIONS_START", "2025-06-01")
    monkeypatch.setenv("GUARDDUTY_PIPELINE_CRON", "  45   23 * * * ")
    settings = load_settings()
    assert settings.partitions_start == "2025-06-01"
    assert settings.pipeline_cron_override == "45 23 * * *"


def test_only_athena_as_the_dbt_target_means_the_marts_are_in_athena(monkeypatch):
    assert not load_settings().uses_athena
    monkeypatch.setenv("DBT_TARGET", "athena")
    assert load_settings().uses_athena


def test_the_project_reads_its_variables_only_in_the_environment_module():
    """Elsewhere only the dbt plugin (inside dbt's process), the lake catalog (the AWS SDK's own
    variables, for PyIceberg), the S3 resource (the same variables, as the key of its shared
    client), the dashboard (the user's cache folder) and the command line (Dagster's DAGSTER_HOME)
    touch the environment."""
    package = Path(__file__).resolve().parents[1] / "orchestration"
    readers = {
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if re.search(r"os\.environ|os\.getenv", path.read_text(encoding="utf-8"))
    }
    assert readers == {
        "cli.py",
        "lib/aws/s3.py",
        "lib/environment.py",
        "lib/lake/dbt_duckdb_plugin.py",
        "lib/lake/catalog.py",
        "lib/publish/offline_dashboard.py",
    }
