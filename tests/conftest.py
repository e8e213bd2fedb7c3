import pytest

from tests.helpers.s3_servers import running_seaweedfs

pytest_plugins = ("tests.helpers.quicksight_fixtures",)


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory):
    """A real S3 server on 127.0.0.1, started once for the session and stopped after it."""
    with running_seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@pytest.fixture
def fresh_settings(monkeypatch, tmp_path):
    """Point every configuration variable at a temporary folder; settings are re-read."""
    from orchestration.lib.environment import get_settings

    monkeypatch.setenv("GUARDDUTY_DATA_DIR", str(tmp_path / "data"))
    for variable in (
        "GUARDDUTY_SOURCE_URI",
        "GUARDDUTY_LAKE_URI",
        "GUARDDUTY_DUCKDB_PATH",
        "GUARDDUTY_REPORT_DIR",
    ):
        monkeypatch.delenv(variable, raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()
