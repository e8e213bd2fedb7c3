{#-
    Incremental: an incremental run parses the JSON of the changed findings only
    (macros/changed_findings.sql).
-#}
{{ config(
    materialized='incremental',
    unique_key='finding_endpoint_id',
    pre_hook="{{ delete_changed_rows('finding_id', changed_finding_ids()) }}"
) }}
-- depends_on: {{ ref('int_findings_changed') }}
{% set action = '$.service.action' -%}
{%- set single_sources = [
    ('network_connection', action ~ '.networkConnectionAction.remoteIpDetails'),
    ('aws_api_call', action ~ '.awsApiCallAction.remoteIpDetails'),
    ('kubernetes_api_call', action ~ '.kubernetesApiCallAction.remoteIpDetails'),
    ('rds_login_attempt', action ~ '.rdsLoginAttemptAction.remoteIpDetails'),
] -%}

with

current_findings as (

    select
        finding_id,
        finding_json,
        connection_direction
    from {{ ref('int_findings_current') }}
    {%- if is_incremental() %}
    where {{ reranked_since_applied() }}
    {%- endif %}

),

countries as (

    select * from {{ ref('country_codes') }}

),

country_names as (

    select distinct
        country_code,
        country_name
    from countries

),

-- RemoteIpDetails objects: one per action that has a single remote endpoint
single_remote_ip_details as (

    {% for endpoint_source, path in single_sources %}
    select
        finding_id,
        '{{ endpoint_source }}' as endpoint_source,
        1 as endpoint_ordinal,
        {{ json_value('finding_json', path) }} as remote_ip_details,
        {% if endpoint_source == 'network_connection' -%}
        connection_direction
        {%- else -%}
        cast(null as varchar) as connection_direction
        {%- endif %},
        cast(null as integer) as local_port
    from current_findings
    where {{ json_value('finding_json', path) }} is not null
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

port_probe_details as (

    select
        current_findings.finding_id,
        'port_probe' as endpoint_source,
        cast(probes.ordinal as integer) as endpoint_ordinal,
        {{ json_value('probes.element', '$.remoteIpDetails') }} as remote_ip_details,
        cast(null as varchar) as connection_direction,
        try_cast({{ json_text('probes.element', '$.localPortDetails.port') }} as integer)
            as local_port
    from current_findings
    {{ unnest_json_array(
        'current_findings.finding_json',
        action ~ '.portProbeAction.portProbeDetails',
        'probes'
    ) }}

),

remote_ip_endpoints as (

    select
        finding_id,
        endpoint_source,
        endpoint_ordinal,
        connection_direction,
        local_port,
        {{ clean_text(json_text('remote_ip_details', '$.ipAddressV4')) }} as ip_address_v4,
        {{ clean_text(json_text('remote_ip_details', '$.ipAddressV6')) }} as ip_address_v6,
        {{ clean_text(json_text('remote_ip_details', '$.country.countryName')) }}
            as reported_country_name,
        upper({{ clean_text(json_text('remote_ip_details', '$.country.countryCode')) }})
            as reported_country_code,
        {{ clean_text(json_text('remote_ip_details', '$.city.cityName')) }} as city,
        try_cast({{ json_text('remote_ip_details', '$.geoLocation.lat') }} as double) as latitude,
        try_cast({{ json_text('remote_ip_details', '$.geoLocation.lon') }} as double) as longitude,
        {{ integer_text(clean_text(json_text('remote_ip_details', '$.organization.asn'))) }}
            as asn,
        {{ clean_text(json_text('remote_ip_details', '$.organization.asnOrg')) }} as asn_org,
        {{ clean_text(json_text('remote_ip_details', '$.organization.isp')) }} as isp,
        {{ clean_text(json_text('remote_ip_details', '$.organization.org')) }} as org
    from (
        select * from single_remote_ip_details
        union all
        select * from port_probe_details
    ) as remote_ip_details_unioned

),

-- Extended Threat Detection: service.detection.sequence.endpoints[]
sequence_endpoints as (

    select
        current_findings.finding_id,
        'attack_sequence' as endpoint_source,
        cast(endpoints.ordinal as integer) as endpoint_ordinal,
        cast(null as varchar) as connection_direction,
        try_cast({{ json_text('endpoints.element', '$.port') }} as integer) as local_port,
        case
            when strpos({{ json_text('endpoints.element', '$.ip') }}, ':') = 0
                then {{ clean_text(json_text('endpoints.element', '$.ip')) }}
        end as ip_address_v4,
        case
            when strpos({{ json_text('endpoints.element', '$.ip') }}, ':') > 0
                then {{ clean_text(json_text('endpoints.element', '$.ip')) }}
        end as ip_address_v6,
        {{ clean_text(json_text('endpoints.element', '$.location.country')) }}
            as reported_country_name,
        cast(null as varchar) as reported_country_code,
        {{ clean_text(json_text('endpoints.element', '$.location.city')) }} as city,
        -- The API model names these lat/lon; the data contract spells them out: accept both.
        try_cast(coalesce(
            {{ json_text('endpoints.element', '$.location.lat') }},
            {{ json_text('endpoints.element', '$.location.latitude') }}
        ) as double) as latitude,
        try_cast(coalesce(
            {{ json_text('endpoints.element', '$.location.lon') }},
            {{ json_text('endpoints.element', '$.location.longitude') }}
        ) as double) as longitude,
        {{ integer_text(clean_text(json_text('endpoints.element', '$.autonomousSystem.number'))) }}
            as asn,
        {{ clean_text(json_text('endpoints.element', '$.autonomousSystem.name')) }} as asn_org,
        cast(null as varchar) as isp,
        cast(null as varchar) as org
    from current_findings
    {{ unnest_json_array(
        'current_findings.finding_json', '$.service.detection.sequence.endpoints', 'endpoints'
    ) }}

),

all_endpoints as (

    select * from remote_ip_endpoints
    union all
    select * from sequence_endpoints

),

-- an endpoint with a country but no address still locates its finding; one with neither is noise
addressed as (

    select
        *,
        coalesce(ip_address_v4, {{ canonical_ip('ip_address_v6') }}) as ip_address,
        case when ip_address_v4 is not null then 4 when ip_address_v6 is not null then 6 end
            as ip_version
    from all_endpoints
    where
        coalesce(ip_address_v4, ip_address_v6, reported_country_name, reported_country_code)
        is not null

),

-- countryCode when GuardDuty gives one, else derived from the name through the seed
with_country_code as (

    select
        addressed.*,
        case
            when length(addressed.reported_country_code) = 2 then addressed.reported_country_code
            else countries.country_code
        end as country_code
    from addressed
    left join countries
        on {{ country_key('addressed.reported_country_name') }} = countries.country_key

),

located as (

    select
        with_country_code.*,
        coalesce(country_names.country_name, with_country_code.reported_country_name)
            as country_name
    from with_country_code
    left join country_names
        on with_country_code.country_code = country_names.country_code

),

final as (

    select
        {{ dbt.hash(
            "finding_id || '|' || endpoint_source || '|' || cast(endpoint_ordinal as varchar)"
        ) }} as finding_endpoint_id,
        finding_id,
        endpoint_source,
        endpoint_ordinal,
        connection_direction,
        ip_address,
        ip_version,
        country_code,
        country_name,
        reported_country_name,
        city,
        latitude,
        longitude,
        asn,
        asn_org,
        isp,
        org,
        local_port
    from located

)

select * from final
