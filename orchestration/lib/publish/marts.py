"""Reading the marts for the offline pages: DuckDB read-only locally, Athena in production.

A ``MartReader`` runs a SELECT in which ``{schema}`` stands for the marts' validated schema; both
the offline dashboard and the review report read through one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from orchestration.lib.environment import ConfigurationError, validate_sql_identifier

if TYPE_CHECKING:
    # Imported where used: loading the Dagster definitions does not need DuckDB.
    import duckdb


class MissingMartsError(FileNotFoundError):
    """The warehouse file, or one of the marts in it, does not exist: dbt has not built them."""


class MartReader(Protocol):
    """Runs a SELECT on the marts; ``{schema}`` in the SQL is the marts' (validated) schema."""

    source: str

    def rows(self, sql: str) -> list[tuple]: ...


class DuckDBMarts:
    """The local DuckDB warehouse, opened read-only (DuckDB allows one writer: never block dbt)."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, schema: str, source: str) -> None:
        [(catalog,)] = connection.execute("select current_database()").fetchall()
        # Qualified by catalog too: a file named like the schema makes the schema ambiguous.
        self._schema = '"{}".{}'.format(catalog.replace('"', '""'), schema)
        self._connection = connection
        self.source = source

    def rows(self, sql: str) -> list[tuple]:
        import duckdb

        try:
            return self._connection.execute(sql.format(schema=self._schema)).fetchall()
        except duckdb.CatalogException as error:
            raise MissingMartsError(
                f"A mart is missing from {self.source}: build the dbt marts first. {error}"
            ) from error


@contextmanager
def open_duckdb_marts(
    duckdb_path: str | os.PathLike[str], schema: str = "main"
) -> Iterator[DuckDBMarts]:
    """A read-only MartReader over a DuckDB file.

    Raises:
        MissingMartsError: There is no file at ``duckdb_path``.
        ConfigurationError: ``schema`` is not a plain SQL identifier.
    """
    path = Path(duckdb_path)
    if not path.is_file():
        raise MissingMartsError(f"No DuckDB warehouse at {path}: build the dbt marts first.")
    schema = validate_sql_identifier(schema, "schema")
    import duckdb

    with duckdb.connect(str(path), read_only=True) as connection:
        connection.execute("set TimeZone = 'UTC'")
        yield DuckDBMarts(connection, schema, source=f"DuckDB {path} (schema {schema})")


class AthenaMarts:
    """The marts in Athena, queried through PyAthena (installed with dbt-athena).

    The work group must have a query result location (the lake stack enforces one).
    """

    def __init__(self, schema: str, work_group: str, region_name: str, connect: Any = None) -> None:
        self._schema = validate_sql_identifier(schema, "ATHENA_SCHEMA")
        if connect is None:
            try:
                from pyathena import connect as pyathena_connect
            except ImportError as error:  # pragma: no cover (a dependency of dbt-athena)
                raise ConfigurationError(
                    "DBT_TARGET=athena needs the pyathena package (a dependency of dbt-athena) "
                    "to read the marts."
                ) from error
            connect = pyathena_connect
        self._connection = connect(
            work_group=work_group, region_name=region_name, schema_name=self._schema
        )
        self.source = f"Athena {self._schema} (work group {work_group}, {region_name})"

    def rows(self, sql: str) -> list[tuple]:
        cursor = self._connection.cursor()
        try:
            cursor.execute(sql.format(schema=self._schema))
            return list(cursor.fetchall())
        finally:
            cursor.close()
