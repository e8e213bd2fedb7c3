"""The S3 resource: dagster-aws's, with its boto3 client built once per process and configuration.

Dagster builds a step's or a sensor tick's resources before the code runs, and ``S3Resource``
builds a boto3 client as it does, whether the code then reads S3 or not. Building one loads
botocore's S3 model and endpoint rules (about 0.1 s of CPU): a sensor ticking every minute in the
code server, and every step of every run, paid it again. Clients are thread-safe, so one per
configuration serves them all. The AWS_* variables (endpoint, credentials, profile, Region) are part
of the key: a process that changes them gets a client that follows.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from dagster_aws.s3 import S3Resource

# Configurations differ only between tests; the bound keeps a long test session's cache small.
_MAX_CLIENTS = 16
_clients: dict[tuple[str, tuple[tuple[str, str], ...]], Any] = {}
_clients_lock = threading.Lock()


class CachedS3Resource(S3Resource):
    """``S3Resource`` whose ``get_client`` returns one shared client per configuration."""

    def get_client(self) -> Any:
        key = (self.model_dump_json(), _aws_environment())
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                if len(_clients) >= _MAX_CLIENTS:
                    _clients.clear()
                client = _clients[key] = super().get_client()
        return client


def _aws_environment() -> tuple[tuple[str, str], ...]:
    return tuple(sorted(item for item in os.environ.items() if item[0].startswith("AWS_")))
