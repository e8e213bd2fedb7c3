{#
    Incremental: only findings with a version in a lake batch not processed before (or, for a
    Dagster backfill, with a version in the backfill window) are re-ranked, over ALL
    their versions, so a version delivered late never displaces a newer current one. Each
    re-ranked row is stamped with the run's start (reranked_at), which tells the incremental marts
    what changed (macros/changed_findings.sql).

    The versions are ranked on narrow rows (the ordering columns); the wide staged row, with its
    JSON, is fetched for the current versions only, by its row handle (macros/row_handle.sql).
#}

with

finding_versions as (

    select
        {{ staged_row_handle() }} as staged_row,
        finding_id,
        finding_version_id,
        updated_at,
        event_count,
        ingested_at,
        ingest_batch_id,
        updated_date
    from {{ ref('stg_guardduty__findings') }}

),

{% if is_incremental() %}
changed_findings as (

    select distinct finding_id
    from finding_versions
    where (
        ingest_batch_id {{ new_lake_batch_range() }}
        and ingest_batch_id in ({{ new_lake_batches() }})
    )
    {%- if backfill_window_given() %}
        or {{ in_backfill_window('updated_date') }}
    {%- endif %}

),

{% endif %}
ranked as (

    select
        staged_row,
        count(*) over (partition by finding_id) as version_count,
        max(ingested_at) over (partition by finding_id) as last_ingested_at,
        row_number() over (
            partition by finding_id
            order by
                updated_at desc,
                event_count desc nulls last,
                ingested_at desc,
                finding_version_id desc
        ) as version_rank
    from finding_versions
    {%- if is_incremental() %}
    where finding_id in (select finding_id from changed_findings)
    {%- endif %}

),

current_versions as (

    select
        staged.*,
        ranked.version_count,
        ranked.last_ingested_at,
        ranked.version_rank,
        {{ reranked_now() }} as reranked_at
    from ranked
    inner join {{ ref('stg_guardduty__findings') }} as staged
        on {{ staged_row_handle('staged') }} = ranked.staged_row
    where ranked.version_rank = 1

)

select * from current_versions
