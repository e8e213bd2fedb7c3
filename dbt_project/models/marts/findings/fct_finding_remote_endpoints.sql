{{ config(
    materialized='incremental',
    unique_key='finding_endpoint_id',
    pre_hook="{{ delete_changed_rows('finding_id', changed_finding_ids()) }}"
) }}
-- depends_on: {{ ref('int_findings_changed') }}

with

findings as (

    select * from {{ ref('fct_findings') }}
    {{- where_finding_changed() }}

),

endpoints as (

    select * from {{ ref('int_finding_remote_endpoints') }}
    {{- where_finding_changed() }}

),

-- samples are not in fct_findings, so the join drops their endpoints
final as (

    select
        endpoints.finding_endpoint_id,
        endpoints.finding_id,
        findings.account_id,
        findings.region,
        findings.finding_type,
        findings.action_type,
        findings.severity_label,
        findings.finding_date,
        endpoints.endpoint_source,
        endpoints.endpoint_ordinal,
        endpoints.connection_direction,
        endpoints.ip_address,
        endpoints.ip_version,
        endpoints.country_code,
        endpoints.country_name,
        endpoints.reported_country_name,
        endpoints.city,
        endpoints.latitude,
        endpoints.longitude,
        endpoints.asn,
        endpoints.asn_org,
        endpoints.isp,
        endpoints.org,
        endpoints.local_port,
        findings.occurrence_count
    from endpoints
    inner join findings
        on endpoints.finding_id = findings.finding_id

)

select * from final
