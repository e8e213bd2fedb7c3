"""One small object-store interface over a local folder and an S3 prefix.

The raw source, the API backfill's raw pages, the alert state and the reports use it, so the
embedded default (folders on disk) and production (S3) run the same code path.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import ClientError

from orchestration.lib.environment import is_s3_uri


@dataclass(frozen=True)
class StoredObject:
    """An object under a store's root. ``key`` is relative to the root, with '/' separators."""

    uri: str
    key: str
    size: int
    # S3 ETag, or a local file's modification time in nanoseconds.
    version: str
    # Set when the object must not be read (a symlink leaving the source root, a folder marker).
    refusal: str | None = None
    # When the object was last written (S3 LastModified, a local file's mtime), timezone-aware UTC.
    last_modified: datetime | None = None


@dataclass(frozen=True)
class FolderListing:
    """One level of a store: the objects directly under a prefix and its sub-folder prefixes
    (relative to the root, ending with '/'), as S3 lists with a '/' delimiter."""

    objects: list[StoredObject]
    folders: list[str]


class ObjectStore(Protocol):
    root_uri: str

    def list(self, prefix: str = "") -> Iterator[StoredObject]: ...

    def list_folder(self, prefix: str = "") -> FolderListing: ...

    def read(self, key: str) -> bytes: ...

    def write(self, key: str, data: bytes) -> None: ...

    def write_if_absent(self, key: str, data: bytes) -> bool: ...

    def delete(self, keys: Iterable[str]) -> None: ...


class LocalStore:
    """A folder on disk. Writes are atomic (temporary file, then rename)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.root_uri = str(self.root)

    def list(self, prefix: str = "") -> Iterator[StoredObject]:
        start = self.root / prefix if prefix else self.root
        if not start.is_dir():
            return
        for directory, subdirectories, files in os.walk(start, followlinks=False):
            subdirectories.sort()
            for name in sorted(files):
                yield self._stored(Path(directory, name))

    def list_folder(self, prefix: str = "") -> FolderListing:
        start = self._confined(prefix) if prefix else self.root
        if not start.is_dir():
            return FolderListing([], [])
        objects, folders = [], []
        for entry in sorted(os.scandir(start), key=lambda entry: entry.name):
            # Like list(): folders reached through a symlink are not followed.
            if entry.is_dir(follow_symlinks=False):
                folders.append(Path(entry.path).relative_to(self.root).as_posix() + "/")
            elif not (entry.is_symlink() and Path(entry.path).is_dir()):
                objects.append(self._stored(Path(entry.path)))
        return FolderListing(objects, folders)

    def _stored(self, path: Path) -> StoredObject:
        key = path.relative_to(self.root).as_posix()
        refusal = None
        if path.is_symlink():
            target = path.resolve()
            if not target.is_relative_to(self.root):
                refusal = "symlink pointing outside the source root (not followed)"
            elif not target.is_file():
                refusal = "symlink to something that is not a file (not followed)"
        try:
            stat = path.lstat() if refusal else path.stat()
        except OSError as error:
            return StoredObject(
                str(path), key, 0, "unreadable", f"cannot stat file: {error.strerror}"
            )
        return StoredObject(
            str(path),
            key,
            stat.st_size,
            str(stat.st_mtime_ns),
            refusal,
            datetime.fromtimestamp(stat.st_mtime_ns / 1e9, UTC),
        )

    def read(self, key: str) -> bytes:
        path = self._confined(key)
        return path.read_bytes()

    def write(self, key: str, data: bytes) -> None:
        path = self._confined(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def write_if_absent(self, key: str, data: bytes) -> bool:
        """Create ``key`` only if it does not exist; False when it already does."""
        path = self._confined(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        return True

    def delete(self, keys: Iterable[str]) -> None:
        for key in keys:
            path = self._confined(key)
            path.unlink(missing_ok=True)
            self._remove_empty_parents(path)

    def _confined(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError(f"{key!r} leaves the store root {self.root}")
        return path

    def _remove_empty_parents(self, path: Path) -> None:
        for parent in path.parents:
            if parent == self.root or not parent.is_relative_to(self.root):
                return
            if not parent.is_dir() or any(parent.iterdir()):
                return
            parent.rmdir()


class S3Store:
    """An S3 prefix, read and written through a boto3 client (retries in standard mode)."""

    def __init__(self, uri: str, client: Any) -> None:
        bucket, _, prefix = uri[len("s3://") :].partition("/")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.root_uri = f"s3://{bucket}/{self.prefix}".rstrip("/")
        self.client = client

    def list(self, prefix: str = "") -> Iterator[StoredObject]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
            for item in page.get("Contents", []):
                yield self._stored(item)

    def list_folder(self, prefix: str = "") -> FolderListing:
        objects, folders = [], []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(
            Bucket=self.bucket, Prefix=self.prefix + prefix, Delimiter="/"
        ):
            objects.extend(self._stored(item) for item in page.get("Contents", []))
            folders.extend(
                common["Prefix"][len(self.prefix) :] for common in page.get("CommonPrefixes", [])
            )
        return FolderListing(objects, folders)

    def _stored(self, item: dict[str, Any]) -> StoredObject:
        full_key = item["Key"]
        refusal = "folder marker, not an object" if full_key.endswith("/") else None
        return StoredObject(
            uri=f"s3://{self.bucket}/{full_key}",
            key=full_key[len(self.prefix) :],
            size=item["Size"],
            version=item.get("ETag", "").strip('"'),
            refusal=refusal,
            last_modified=item["LastModified"].astimezone(UTC) if "LastModified" in item else None,
        )

    def read(self, key: str) -> bytes:
        response = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)
        return response["Body"].read()

    def write(self, key: str, data: bytes) -> None:
        # A PUT is atomic: the object becomes visible only once complete.
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data)

    def write_if_absent(self, key: str, data: bytes) -> bool:
        """A conditional PUT (If-None-Match: *); False when the key already exists."""
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=self.prefix + key, Body=data, IfNoneMatch="*"
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409"):
                return False
            raise
        return True

    def delete(self, keys: Iterable[str]) -> None:
        batch = [{"Key": self.prefix + key} for key in keys]
        for start in range(0, len(batch), 1000):
            response = self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": batch[start : start + 1000], "Quiet": True}
            )
            if response.get("Errors"):
                first = response["Errors"][0]
                raise OSError(f"S3 delete failed for {first.get('Key')}: {first.get('Message')}")


def open_store(uri: str, s3_client_factory: Any = None) -> ObjectStore:
    """A store for a local path or an ``s3://bucket/prefix`` URI."""
    if is_s3_uri(uri):
        if s3_client_factory is None:
            raise ValueError(f"{uri} is on S3 but no S3 client was configured")
        return S3Store(uri, s3_client_factory())
    return LocalStore(uri)
