{#-
    Append-only: each run appends the committed rows of the lake batches this table does not hold
    yet, so every batch is appended exactly once, also one that commits after a later batch.
-#}
{{ config(materialized='incremental', incremental_strategy='append') }}

with

lake_findings as (

    select findings.*
    from {{ source('guardduty_lake', 'findings') }} as findings
    where {{ committed_in_lake('findings') }}
    {%- if is_incremental() %}
        and findings.ingest_batch_id not in (select ingest_batch_id from {{ this }})
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
