{{ config(
    materialized='incremental',
    unique_key=['finding_date', 'account_id', 'region', 'country_code', 'country_name'],
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

endpoints as (

    select * from {{ ref('fct_finding_remote_endpoints') }}
    {%- if is_incremental() %}
    where finding_date in ({{ changed_finding_dates() }})
    {%- endif %}

),

-- a finding counts once per distinct country among its located endpoints
finding_countries as (

    select distinct
        finding_id,
        country_code,
        country_name
    from endpoints
    where country_name is not null

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

),

aggregated as (

    select
        finding_date,
        account_id,
        region,
        country_code,
        country_name,
        count(distinct finding_id) as finding_count,
        cast(coalesce(sum(occurrence_count), 0) as bigint) as occurrence_count
    from findings_by_country
    group by finding_date, account_id, region, country_code, country_name

)

select * from aggregated
