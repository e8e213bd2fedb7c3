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

{#-
    The committed rows of a lake table (`lake_rows`) in `batch_range` that also meet `where`, read
    from the data files that meet `files` (a predicate on `files`, a row of the lake's data-file
    list: see lake_table) when given.
-#}
{% macro committed_lake_rows(table, batch_range='is not null', where='true', files=none) -%}
    select lake_rows.*
    from {{ lake_table(table, files) }} as lake_rows
    where lake_rows.ingest_batch_id {{ batch_range }}
        and {{ where }}
        and {{ committed_in_lake('lake_rows', batch_range) }}
{%- endmacro %}

{#-
    A lake table, or on DuckDB only its data files that meet `files`. DuckDB opens every file of a
    view to skip it by its statistics, 16-20 kB of footer each: after a backfill that wrote a
    thousand small files, that was more than an incremental run's new data. The lake views' plugin
    lists each file with its partition date and ingest batch bounds from the Iceberg manifests
    (`data_files`, orchestration/lib/lake/reader.py), and the files are chosen from that list
    first, as Athena prunes Iceberg data files by the same bounds. A unit test's or an --empty
    build's inputs stand in for the lake table: they are read whole.
-#}
{% macro lake_table(table, files=none) -%}
    {{ return(adapter.dispatch('lake_table', 'guardduty')(table, files)) }}
{%- endmacro %}

{% macro default__lake_table(table, files) -%}
    {{ source('guardduty_lake', table) }}
{%- endmacro %}

{% macro duckdb__lake_table(table, files) -%}
    {%- set lake = source('guardduty_lake', table) -%}
    {%- if files is none or not execute or inputs_stand_in() -%}
        {{ lake }}
    {%- else -%}
        {%- set data_files = api.Relation.create(
            database=lake.database, schema=lake.schema, identifier='data_files'
        ) -%}
        {%- set chosen = run_query(
            'select file_path from ' ~ data_files ~ " as files where files.table_name = '"
            ~ table ~ "' and (" ~ files ~ ') order by file_path'
        ).columns[0].values() -%}
        {%- if chosen | length == 0 -%}
            (select * from {{ lake }} where false)
        {%- else -%}
            {{ lake.database }}.{{ lake.schema }}.{{ table }}_files([
                {%- for path in chosen %}'{{ path | replace("'", "''") }}'{{ ',' if not loop.last }}{% endfor -%}
            ])
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#-
    Data files (see lake_table) that may hold rows of new_lake_batches(processed): their batch
    bounds (truncated by Iceberg, still bounds) overlap the new batches' range.
-#}
{% macro files_of_new_lake_batches(processed=none) -%}
    exists (
        select 1
        from (
            select min(ingest_batch_id) as first_id, max(ingest_batch_id) as last_id
            from ({{ new_lake_batches(processed) }}) as new_batches
        ) as new_range
        where (files.last_batch_id is null or files.last_batch_id >= new_range.first_id)
            and (files.first_batch_id is null or files.first_batch_id <= new_range.last_id)
    )
{%- endmacro %}

{#- Data files (see lake_table) of the partitions in the backfill window, and undated ones. -#}
{% macro files_in_backfill_window() -%}
    files.partition_date is null or {{ in_backfill_window('files.partition_date') }}
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
