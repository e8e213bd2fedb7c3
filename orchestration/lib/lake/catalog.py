"""The lake's Iceberg catalog: SQLite (SqlCatalog) for the embedded default, Glue on AWS.

The warehouse is GUARDDUTY_LAKE_URI (a local folder or an s3:// prefix); each table lives under
``<warehouse>/<namespace>.db/<table>`` (data/ and metadata/), the namespace being the Glue
database. Files are read and written with pyarrow's file IO; an S3 endpoint and keys come from the
standard AWS variables (AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID, ...) or the default credential
chain.
"""

from __future__ import annotations

import atexit
import logging
import os
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.exc import OperationalError

from orchestration.lib.environment import Settings, is_s3_uri
from orchestration.lib.lake import tables

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    # pyiceberg.table pulls in pyarrow: loading the Dagster definitions needs neither.
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table

CATALOG_NAME = "guardduty"
SQL_CATALOG_FILE = "lake_catalog.db"
CATALOG_KINDS = ("sql", "glue")
_PYARROW_IO = "pyiceberg.io.pyarrow.PyArrowFileIO"


@dataclass
class Lake:
    """The catalog and namespace holding the lake's tables."""

    catalog: Catalog
    namespace: str
    warehouse: str

    def table(self, name: str) -> Table:
        """The table's current metadata (a fresh load: other runs may have committed)."""
        return self.catalog.load_table((self.namespace, name))

    def table_location(self, name: str) -> str:
        return table_location(self.warehouse, self.namespace, name)

    def create_tables(self) -> None:
        """Create the namespace and the tables that do not exist yet, and bring the properties
        of existing ones up to date (safe to run concurrently).

        An existing table is only loaded: asking the catalog to create it again writes a
        metadata file before the catalog refuses, an orphan for each table at every opening
        (and a write that a read-only role is not allowed).
        """
        from pyiceberg.exceptions import NoSuchTableError

        if not self.catalog.namespace_exists(self.namespace):
            self.catalog.create_namespace_if_not_exists(self.namespace)
        for name in tables.TABLES:
            try:
                table = self.table(name)
            except NoSuchTableError:
                table = self.catalog.create_table_if_not_exists(
                    (self.namespace, name),
                    schema=tables.SCHEMAS[name],
                    location=self.table_location(name),
                    partition_spec=tables.partition_spec(name),
                    properties=tables.TABLE_PROPERTIES[name],
                )
            _update_properties(table, tables.TABLE_PROPERTIES[name])


def _update_properties(table: Table, wanted: dict[str, str]) -> None:
    """Best effort: the properties tune commits, and a reader may not be allowed to write (or
    another run committed meanwhile); the next connection that can tries again."""
    changed = {
        key: value
        for key, value in wanted.items()
        if key not in tables.CREATION_ONLY_PROPERTIES and table.properties.get(key) != value
    }
    if not changed:
        return
    try:
        with table.transaction() as transaction:
            transaction.set_properties(changed)
    except Exception as error:
        logger.warning(
            "Lake table %s keeps its properties, not %s: %s", table.name(), changed, error
        )


def table_location(warehouse: str, namespace: str, name: str) -> str:
    root = warehouse.rstrip("/") if is_s3_uri(warehouse) else Path(warehouse).resolve().as_uri()
    return f"{root}/{namespace}.db/{name}"


def sql_catalog_path(settings: Settings) -> Path:
    """The SQLite catalog: inside a local lake folder, or in the data folder for an S3 lake."""
    if is_s3_uri(settings.lake_uri):
        return Path(settings.data_dir) / SQL_CATALOG_FILE
    return Path(settings.lake_uri) / SQL_CATALOG_FILE


def open_lake(settings: Settings) -> Lake:
    """The configured lake, its tables created on first use."""
    return connect_lake(
        settings.lake_uri,
        catalog=settings.lake_catalog,
        namespace=settings.glue_database,
        sql_catalog=sql_catalog_path(settings),
        region=settings.aws_region,
    )


def connect_lake(
    warehouse: str,
    *,
    catalog: str = "sql",
    namespace: str = "guardduty_lake",
    sql_catalog: Path | None = None,
    region: str | None = None,
) -> Lake:
    """A lake at ``warehouse``; ``sql_catalog`` defaults to a file inside a local warehouse."""
    if catalog not in CATALOG_KINDS:
        raise ValueError(f"lake catalog {catalog!r}: expected one of {CATALOG_KINDS}")
    region = region or os.environ.get("AWS_REGION") or "us-east-1"
    properties = {"py-io-impl": _PYARROW_IO, **_s3_properties(region)}
    if catalog == "glue":
        from pyiceberg.catalog.glue import GlueCatalog

        glue = GlueCatalog(CATALOG_NAME, **properties, **{"glue.region": region})
        lake = Lake(glue, namespace, warehouse)
    else:
        if sql_catalog is None:
            if is_s3_uri(warehouse):
                raise ValueError("an S3 warehouse needs a local path for its SQLite catalog")
            sql_catalog = Path(warehouse) / SQL_CATALOG_FILE
        lake = Lake(_sql_catalog(Path(sql_catalog), warehouse, properties), namespace, warehouse)
    lake.create_tables()
    return lake


def _sql_catalog(path: Path, warehouse: str, properties: dict[str, str]) -> Catalog:
    path.parent.mkdir(parents=True, exist_ok=True)
    return _cached_sql_catalog(str(path.resolve()), warehouse, tuple(sorted(properties.items())))


@cache
def _cached_sql_catalog(
    path: str, warehouse: str, properties: tuple[tuple[str, str], ...]
) -> Catalog:
    """One catalog (and connection pool) per SQLite file in a process."""
    from pyiceberg.catalog.sql import SqlCatalog

    uri = f"sqlite:///{path}"
    # Two processes opening a new catalog at once race to create its tables; the loser retries.
    for attempt in range(5):
        try:
            catalog = SqlCatalog(CATALOG_NAME, uri=uri, warehouse=warehouse, **dict(properties))
            break
        except OperationalError:
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))
    # Closed before interpreter shutdown, when pooled SQLite connections can no longer roll back.
    atexit.register(catalog.engine.dispose)
    return catalog


def _s3_properties(region: str) -> dict[str, str]:
    properties = {"s3.region": region}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        properties["s3.endpoint"] = endpoint
    for variable, key in (
        ("AWS_ACCESS_KEY_ID", "s3.access-key-id"),
        ("AWS_SECRET_ACCESS_KEY", "s3.secret-access-key"),
        ("AWS_SESSION_TOKEN", "s3.session-token"),
    ):
        if os.environ.get(variable):
            properties[key] = os.environ[variable]
    return properties
