{#
    Reading the lake's ingest batches (see the `guardduty_lake` source).

    A findings or quarantine row is committed, and may be read, only when the ledger holds its
    (ingest_batch_id, source_uri): the ingest commits a batch's ledger rows after its data rows.
    Incremental models process the ledger batches not yet recorded in int_lake_batches_processed:
    a set difference, never a time watermark, so a batch that commits late (two ingest runs at
    once) is never skipped.

    An incremental run reads only the lake files that can hold its rows: every filter on the lake
    is a constant range on one column, which the engine pushes into its scan (DuckDB skips Parquet
    row groups by their statistics, Athena Iceberg partitions and data files). An `or` of filters
    on two columns is pushed by neither, so a backfill window is a second scan, not an `or`.
#}

{#-
    `batch_range` (see new_lake_batch_range) also bounds the ledger rows read, so that the check
    reads only the ledger files of the batches in range.
-#}
{% macro committed_in_lake(alias, batch_range='is not null') -%}
    exists (
        select 1
        from {{ source('guardduty_lake', 'ingest_ledger') }} as ledger
        where ledger.ingest_batch_id = {{ alias }}.ingest_batch_id
            and ledger.source_uri = {{ alias }}.source_uri
            and ledger.ingest_batch_id {{ batch_range }}
    )
{%- endmacro %}

{#- The committed rows of a lake table (`lake_rows`) in `batch_range` that also meet `where`. -#}
{% macro committed_lake_rows(table, batch_range='is not null', where='true') -%}
    select lake_rows.*
    from {{ source('guardduty_lake', table) }} as lake_rows
    where lake_rows.ingest_batch_id {{ batch_range }}
        and {{ where }}
        and {{ committed_in_lake('lake_rows', batch_range) }}
{%- endmacro %}

{#-
    The ledger's batches with findings that are not in `processed` (a query of ingest_batch_id;
    by default the batches the incremental models have processed).
-#}
{% macro new_lake_batches(processed=none) -%}
    select distinct ledger.ingest_batch_id
    from {{ source('guardduty_lake', 'ingest_ledger') }} as ledger
    where ledger.status = 'ingested'
        and ledger.ingest_batch_id not in ({{ processed or processed_lake_batches() }})
{%- endmacro %}

{#-
    The range of ingest_batch_id that holds every batch of new_lake_batches(processed), as the
    right-hand side of a predicate on a batch id column (`between '...' and '...'`; `is null`,
    which no row meets, when there is no new batch). Constants, read when the model runs: both
    engines prune by them, and batch ids sort by time, so older batches' files fall outside. It
    bounds the read; new_lake_batches() is the exact set.
-#}
{% macro new_lake_batch_range(processed=none) -%}
    {%- if not execute -%}
        {{ return('is not null') }}
    {%- endif -%}
    {%- set rows = run_query(
        'select min(ingest_batch_id), max(ingest_batch_id) from ('
        ~ new_lake_batches(processed) ~ ') as new_batches'
    ).rows -%}
    {%- if not rows or rows[0][0] is none -%}
        is null
    {%- else -%}
        between '{{ rows[0][0] | replace("'", "''") }}' and '{{ rows[0][1] | replace("'", "''") }}'
    {%- endif -%}
{%- endmacro %}

{#- Read without a ref: the record is written after the models that read it (see the model). -#}
{% macro processed_lake_batches() -%}
    {%- set processed = adapter.get_relation(
        database=this.database, schema=this.schema, identifier='int_lake_batches_processed'
    ) -%}
    {%- if processed is none -%}
        select cast(null as varchar) as ingest_batch_id where false
    {%- else -%}
        select ingest_batch_id from {{ processed }}
    {%- endif -%}
{%- endmacro %}

{#-
    A partitioned Dagster run names a window of `updated_date`s to re-read in two environment
    variables (orchestration/lib/transform/backfill_window.py): dbt vars would make dbt parse the
    whole project again at every run, as their values change.
-#}
{% macro backfill_window() -%}
    {{ return([
        env_var('GUARDDUTY_BACKFILL_FIRST_DATE', ''),
        env_var('GUARDDUTY_BACKFILL_LAST_DATE', ''),
    ]) }}
{%- endmacro %}

{% macro backfill_window_given() -%}
    {{ return(backfill_window() | select | list | length == 2) }}
{%- endmacro %}

{#- Compared as dates, so that Athena prunes the lake's `updated_date` partitions. -#}
{% macro in_backfill_window(date_column) -%}
    {%- set first_date, last_date = backfill_window() -%}
    {{ date_column }} between cast('{{ first_date }}' as date)
        and cast('{{ last_date }}' as date)
{%- endmacro %}
