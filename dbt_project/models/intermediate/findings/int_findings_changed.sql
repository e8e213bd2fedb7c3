{{ config(
    materialized='incremental',
    unique_key='finding_id',
    pre_hook="{% if is_incremental() %}delete from {{ this }} where not {{ reranked_since_applied() }}{% endif %}"
) }}
{#
    The findings re-ranked since the marts last caught up, with the date each was on in the marts
    before (read from fct_findings before this run rebuilds it; no ref, which would be a cycle).
    A finding still pending from a run whose marts failed keeps the previous date it had then: the
    aggregates may still hold it. The pre-hook drops the rows the marts have applied.
-#}
{%- set findings_before = adapter.get_relation(
    database=this.database, schema=this.schema, identifier='fct_findings'
) %}

with

reranked as (

    select
        finding_id,
        reranked_at,
        case when not is_sample then cast(created_at as date) end as finding_date
    from {{ ref('int_findings_current') }}
    where {{ reranked_since_applied() }}

),

findings_before as (

    {% if findings_before is none -%}
    select cast(null as varchar) as finding_id, cast(null as date) as finding_date where false
    {%- else -%}
    select finding_id, finding_date from {{ findings_before }}
    {%- endif %}

),

{% if is_incremental() -%}
pending as (

    select finding_id, previous_finding_date from {{ this }}

),
{%- else -%}
pending as (

    select cast(null as varchar) as finding_id, cast(null as date) as previous_finding_date
    where false

),
{%- endif %}

final as (

    select
        reranked.finding_id,
        reranked.reranked_at,
        reranked.finding_date,
        case
            when pending.finding_id is not null then pending.previous_finding_date
            else findings_before.finding_date
        end as previous_finding_date
    from reranked
    left join pending
        on reranked.finding_id = pending.finding_id
    left join findings_before
        on reranked.finding_id = findings_before.finding_id

)

select * from final
