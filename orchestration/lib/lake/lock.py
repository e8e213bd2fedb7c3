"""A lock object in the lake, so two ingest runs never read and commit the same raw objects.

Dagster's ``guardduty_ingest`` pool already runs one ingest at a time per instance; this lock also
holds across instances and machines. It is created with an atomic create-if-absent (O_EXCL on
disk, a conditional PUT on S3), refreshed while the run works, and broken when its holder is
known to be gone: a process on this host that no longer exists, a lock this process could not
release (the store was down), or no refresh within the time-to-live.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from botocore.exceptions import BotoCoreError, ClientError

from orchestration.lib.lake.store import ObjectStore

LOCK_KEY = "_ingest.lock"
_EPOCH = "1970-01-01T00:00:00+00:00"

# Tokens of locks this process took but could not delete, e.g. because S3 was unreachable.
_unreleased_tokens: set[str] = set()


class LakeLocked(RuntimeError):
    """Another ingest run is writing to the same lake."""


class LakeLock:
    def __init__(
        self,
        lake: ObjectStore,
        ttl: timedelta,
        clock: Callable[[], datetime],
        log: logging.Logger,
    ) -> None:
        self.lake, self.ttl, self.clock, self.log = lake, ttl, clock, log
        self.token = uuid.uuid4().hex
        self.host, self.pid = socket.gethostname(), os.getpid()

    def _body(self, acquired_at: datetime) -> bytes:
        return json.dumps(
            {
                "token": self.token,
                "host": self.host,
                "pid": self.pid,
                "acquired_at": acquired_at.isoformat(),
                "refreshed_at": self.clock().isoformat(),
            }
        ).encode()

    def acquire(self) -> None:
        self.acquired_at = self.clock()
        if self.lake.write_if_absent(LOCK_KEY, self._body(self.acquired_at)):
            return
        holder = self._holder()
        reason = self._stale_reason(holder)
        if reason is None:
            raise LakeLocked(
                f"Another ingest run (host {holder.get('host')}, pid {holder.get('pid')}) has "
                f"held the lake lock since {holder.get('acquired_at')}. Wait for it to finish; "
                f"if no run is active, delete {self.lake.root_uri}/{LOCK_KEY}."
            )
        self.log.warning("Breaking the lake's ingest lock: %s", reason)
        self.lake.delete([LOCK_KEY])
        if not self.lake.write_if_absent(LOCK_KEY, self._body(self.acquired_at)):
            raise LakeLocked("Another ingest run took the lake lock first.")

    def refresh(self) -> None:
        self.lake.write(LOCK_KEY, self._body(self.acquired_at))

    def release(self) -> None:
        try:
            self.lake.delete([LOCK_KEY])
        except (BotoCoreError, ClientError, OSError):
            _unreleased_tokens.add(self.token)
            raise

    def release_after_failure(self) -> None:
        """Release while another error is on its way up: a failure here is logged, not raised."""
        try:
            self.release()
        except (BotoCoreError, ClientError, OSError) as error:
            self.log.warning("Could not release the lake's ingest lock: %s", error)

    def _holder(self) -> dict:
        try:
            return json.loads(self.lake.read(LOCK_KEY))
        except (OSError, ValueError, ClientError):
            return {}

    def _stale_reason(self, holder: dict) -> str | None:
        if not holder:
            return "the lock object is unreadable"
        if holder.get("token") in _unreleased_tokens:
            return "this process took it and could not release it"
        if holder.get("host") == self.host and not _process_exists(holder.get("pid")):
            return f"its process {holder.get('pid')} on this host has ended"
        refreshed_at = datetime.fromisoformat(
            holder.get("refreshed_at", "1970-01-01T00:00:00+00:00")
        )
        if self.clock() - refreshed_at > self.ttl:
            return f"it was last refreshed at {refreshed_at.isoformat()}"
        return None


def _process_exists(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
