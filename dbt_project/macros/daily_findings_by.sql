{#
    Current findings per (finding_date, account_id, region, `dimension`): how many, and how many
    occurrences. The grain of the per-dimension aggregate marts; an incremental run recomputes the
    changed dates only.
#}
{% macro daily_findings_by(dimension) -%}
with

findings as (

    select * from {{ ref('fct_findings') }}
    {%- if is_incremental() %}
    where finding_date in ({{ changed_finding_dates() }})
    {%- endif %}

),

aggregated as (

    select
        finding_date,
        account_id,
        region,
        {{ dimension }},
        count(distinct finding_id) as finding_count,
        cast(coalesce(sum(occurrence_count), 0) as bigint) as occurrence_count
    from findings
    group by finding_date, account_id, region, {{ dimension }}

)

select * from aggregated
{%- endmacro %}
