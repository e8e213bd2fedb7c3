"""The QuickSight tests' fixtures, registered in tests/conftest.py; a test file may override one."""

import pytest
from botocore.stub import Stubber

from orchestration.lib.publish.quicksight import marts
from tests.helpers.quicksight_stubs import (
    FIXTURE_MARTS,
    FakeTime,
    quicksight_client,
    quicksight_settings,
)


@pytest.fixture
def client():
    return quicksight_client()


@pytest.fixture
def stub(client):
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def fake_time():
    return FakeTime()


@pytest.fixture
def settings(monkeypatch):
    return quicksight_settings(monkeypatch)


@pytest.fixture
def asset_settings(settings, monkeypatch):
    monkeypatch.setattr(marts, "MARTS_DIR", FIXTURE_MARTS)
    return settings
