{#-
    Append-only: each run appends the committed rows of the lake batches this table does not hold
    yet, so every batch is appended exactly once, also one that commits after a later batch.
-#}
{{ config(materialized='incremental', incremental_strategy='append') }}

with

lake_findings as (

    {% if is_incremental() -%}
    {%- set staged_batches = 'select ingest_batch_id from ' ~ this -%}
    {{ committed_lake_rows(
        'findings',
        new_lake_batch_range(staged_batches),
        'lake_rows.ingest_batch_id in (' ~ new_lake_batches(staged_batches) ~ ')',
        files=files_of_new_lake_batches(staged_batches)
    ) }}
    {%- else -%}
    {{ committed_lake_rows('findings') }}
    {%- endif %}

),

observations as (

    select
        {{ finding_version_id() }} as finding_version_id,
        finding_id,
        cast(updated_at as {{ utc_timestamp_type() }}) as updated_at,
        event_count,
        {{ copy_is_archived('finding_json') }} as is_archived,
        cast({{ copy_observed_at() }} as {{ utc_timestamp_type() }}) as observed_at,
        source_uri,
        line_number,
        ingest_batch_id,
        cast(ingested_at as {{ utc_timestamp_type() }}) as ingested_at
    from lake_findings

)

select * from observations
