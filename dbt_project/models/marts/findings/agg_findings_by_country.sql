{{ config(
    materialized='incremental',
    unique_key=['finding_date', 'account_id', 'region', 'country_code', 'country_name'],
    pre_hook="{{ delete_changed_rows('finding_date', changed_finding_dates()) }}"
) }}
-- depends_on: {{ ref('int_findings_changed') }}
{% call daily_findings_by(['country_code', 'country_name'], counted='findings_by_country') %}
endpoints as (

    select * from {{ ref('fct_finding_remote_endpoints') }}
    {{- where_date_changed() }}

),

-- a finding counts once per distinct country among its located endpoints
finding_countries as (

    {{ finding_countries('endpoints') }}

),

findings_by_country as (

    select
        findings.finding_id,
        findings.finding_date,
        findings.account_id,
        findings.region,
        findings.occurrence_count,
        finding_countries.country_code,
        coalesce(finding_countries.country_name, 'Unknown') as country_name
    from findings
    left join finding_countries
        on findings.finding_id = finding_countries.finding_id

)
{% endcall %}
