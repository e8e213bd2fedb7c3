{{ config(
    materialized='incremental',
    unique_key=['finding_date', 'account_id', 'region'],
    pre_hook="{{ delete_changed_rows('finding_date', changed_finding_dates()) }}"
) }}
-- depends_on: {{ ref('int_findings_changed') }}

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
        count(distinct finding_id) as finding_count,
        cast(coalesce(sum(occurrence_count), 0) as bigint) as occurrence_count,
        count(distinct case when severity_label = 'Critical' then finding_id end)
            as critical_finding_count,
        count(distinct case when severity_label = 'High' then finding_id end)
            as high_finding_count,
        count(distinct case when severity_label = 'Medium' then finding_id end)
            as medium_finding_count,
        count(distinct case when severity_label = 'Low' then finding_id end)
            as low_finding_count,
        max(severity) as max_severity
    from findings
    group by finding_date, account_id, region

)

select * from aggregated
