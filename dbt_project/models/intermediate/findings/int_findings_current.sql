{#
    Incremental: only findings with a version in a lake batch not processed before (or, for a
    Dagster backfill, with a version in the min_date..max_date window) are re-ranked, over ALL
    their versions, so a version delivered late never displaces a newer current one. Each
    re-ranked row is stamped with the run's start (reranked_at), which tells the incremental marts
    what changed (macros/changed_findings.sql).
#}
{%- set window_given = var('min_date') and var('max_date') -%}

with

finding_versions as (

    select * from {{ ref('stg_guardduty__findings') }}

),

{% if is_incremental() %}
changed_findings as (

    select distinct finding_id
    from finding_versions
    where ingest_batch_id in ({{ new_lake_batches() }})
    {%- if window_given %}
        or cast(updated_date as varchar) between '{{ var("min_date") }}' and '{{ var("max_date") }}'
    {%- endif %}

),

candidate_versions as (

    select *
    from finding_versions
    where finding_id in (select finding_id from changed_findings)

),
{% else %}
candidate_versions as (

    select * from finding_versions

),
{% endif %}

ranked as (

    select
        *,
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
    from candidate_versions

),

current_versions as (

    select
        *,
        {{ reranked_now() }} as reranked_at
    from ranked
    where version_rank = 1

)

select * from current_versions
