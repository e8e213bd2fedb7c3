{{ config(
    materialized='incremental',
    unique_key=['finding_date', 'account_id', 'region', 'finding_type', 'threat_purpose', 'resource_type_affected', 'threat_family'],
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
        finding_type,
        threat_purpose,
        resource_type_affected,
        threat_family,
        count(distinct finding_id) as finding_count,
        cast(coalesce(sum(occurrence_count), 0) as bigint) as occurrence_count,
        max(severity) as max_severity
    from findings
    group by
        finding_date,
        account_id,
        region,
        finding_type,
        threat_purpose,
        resource_type_affected,
        threat_family

)

select * from aggregated
