{% set action = '$.service.action' -%}
{%- set type_pattern = '^([^:]+):([^/]+)/([^.!]+)(\\.([^!]+))?(!(.+))?$' -%}
{%- set export_pattern = 'AWSLogs/([0-9]+)/GuardDuty/([^/]+)/([0-9]{4})/([0-9]{2})/([0-9]{2})/' %}

{#- The columns of a copy, as read from the lake and as staged (plus finding_version_id). -#}
{%- set copy_columns = [
    'finding_id', 'account_id', 'region', 'finding_type', 'severity', 'created_at', 'updated_at',
    'event_count', 'finding_json', 'source_uri', 'line_number', 'ingest_batch_id', 'ingested_at',
    'observed_at', 'updated_date',
] %}

with

{% if is_incremental() %}
{%- set new_batch_range = new_lake_batch_range() -%}
{%- set in_new_batches = 'lake_rows.ingest_batch_id in (' ~ new_lake_batches() ~ ')' -%}
lake_findings as (

    {{ committed_lake_rows(
        'findings', new_batch_range, in_new_batches, files=files_of_new_lake_batches()
    ) }}
    {%- if backfill_window_given() %}
    union all
    {{ committed_lake_rows(
        'findings',
        where=in_backfill_window('lake_rows.updated_date') ~ ' and not (' ~ in_new_batches ~ ')',
        files=files_in_backfill_window()
    ) }}
    {%- endif %}

),
{% else %}
lake_findings as (

    {{ committed_lake_rows('findings') }}

),
{% endif %}

-- one row per copy read: the version it is a copy of, and when it was observed
copies as (

    select
        {%- for column in copy_columns %}
        {{ copy_observed_at() if column == 'observed_at' else column }} as {{ column }},
        {%- endfor %}
        {{ finding_version_id() }} as finding_version_id
    from lake_findings

),

{% if is_incremental() %}
-- the copy staged before competes with the new copies of its version: a copy delivered late but
-- observed earlier must not replace it
staged_copies as (

    select
        {%- for column in copy_columns %}
        {{ column }},
        {%- endfor %}
        finding_version_id
    from {{ this }}
    where finding_version_id in (select finding_version_id from copies)

),

{% endif %}
-- copies of a version (exact re-deliveries, or export and API copies that differ in
-- service.archived) collapse to the latest observed; see copy_order
deduplicated as (

    select * from (
        select
            *,
            row_number() over (
                partition by finding_version_id order by {{ copy_order() }}
            ) as copy_rank
        from (
            select
                *,
                {{ copy_is_archived('finding_json') }} as is_archived_copy
            from (
                select * from copies
                {%- if is_incremental() %}
                union all
                select * from staged_copies
                {%- endif %}
            ) as copies_and_staged
        ) as candidates
    ) as ranked
    where copy_rank = 1

),

extracted as (

{% set extracted_sql %}
    select
        -- ids
        finding_version_id,
        finding_id,
        {{ json_text('finding_json', '$.arn') }} as finding_arn,
        {{ json_text('finding_json', '$.schemaVersion') }} as schema_version,
        account_id,
        region,
        {{ json_text('finding_json', '$.partition') }} as partition,
        {{ json_text('finding_json', '$.service.detectorId') }} as detector_id,
        {{ json_text('finding_json', '$.associatedAttackSequenceArn') }}
            as associated_attack_sequence_arn,

        -- finding type, parsed
        finding_type,
        {{ regexp_group('finding_type', type_pattern, 1) }} as threat_purpose,
        {{ regexp_group('finding_type', type_pattern, 2) }} as resource_type_affected,
        {{ regexp_group('finding_type', type_pattern, 3) }} as threat_family,
        {{ regexp_group('finding_type', type_pattern, 5) }} as detection_mechanism,
        {{ regexp_group('finding_type', type_pattern, 7) }} as artifact,

        -- severity and descriptions
        severity,
        {{ severity_label('severity') }} as severity_label,
        {{ json_text('finding_json', '$.title') }} as title,
        {{ json_text('finding_json', '$.description') }} as description,

        -- resource
        {{ json_text('finding_json', '$.resource.resourceType') }} as resource_type,
        {{ json_text('finding_json', '$.resource.instanceDetails.instanceId') }} as instance_id,
        {{ json_text('finding_json', '$.resource.accessKeyDetails.userName') }} as access_key_user,

        -- service
        {{ json_text('finding_json', '$.service.featureName') }} as feature_name,
        coalesce(
            {{ clean_text(json_text('finding_json', action ~ '.actionType')) }}, 'NONE'
        ) as action_type,
        {{ json_text('finding_json', '$.service.resourceRole') }} as resource_role,
        {{ parse_boolean(json_text('finding_json', '$.service.archived')) }} as is_archived,
        event_count,
        coalesce(
            {{ parse_boolean(json_text('finding_json', '$.service.additionalInfo.sample')) }}
            or {{ parse_boolean(json_text('finding_json', '$.service.additionalInfo.value.sample')) }}
            or {{ parse_boolean(json_text_from_string(
                json_text('finding_json', '$.service.additionalInfo.value'), '$.sample'
            )) }},
            false
        ) as is_sample,
        coalesce(
            {{ json_text(
                'finding_json', '$.service.evidence.threatIntelligenceDetails[0].threatListName'
            ) }},
            {{ json_text('finding_json', '$.service.additionalInfo.threatListName') }}
        ) as threat_list_name,

        -- network connection
        upper({{ json_text('finding_json', action ~ '.networkConnectionAction.connectionDirection') }})
            as connection_direction,
        try_cast(
            {{ json_text('finding_json', action ~ '.networkConnectionAction.localPortDetails.port') }}
            as integer
        ) as local_port,
        try_cast(
            {{ json_text('finding_json', action ~ '.networkConnectionAction.remotePortDetails.port') }}
            as integer
        ) as remote_port,
        coalesce(
            {{ json_text('finding_json', action ~ '.networkConnectionAction.protocol') }},
            {{ json_text('finding_json', action ~ '.dnsRequestAction.protocol') }}
        ) as protocol,

        -- the single remote endpoint of the version (port probes and attack sequences: see
        -- int_finding_remote_endpoints)
        coalesce(
            {{ remote_ip_detail('finding_json', '.ipAddressV4') }},
            {{ remote_ip_detail('finding_json', '.ipAddressV6') }}
        ) as reported_remote_ip,
        {{ remote_ip_detail('finding_json', '.country.countryName') }} as remote_country,
        upper({{ remote_ip_detail('finding_json', '.country.countryCode') }}) as remote_country_code,
        {{ remote_ip_detail('finding_json', '.city.cityName') }} as remote_city,
        try_cast({{ remote_ip_detail('finding_json', '.geoLocation.lat') }} as double) as remote_lat,
        try_cast({{ remote_ip_detail('finding_json', '.geoLocation.lon') }} as double) as remote_lon,
        {{ integer_text(remote_ip_detail('finding_json', '.organization.asn')) }} as remote_asn,
        {{ remote_ip_detail('finding_json', '.organization.asnOrg') }} as remote_asn_org,
        {{ remote_ip_detail('finding_json', '.organization.isp') }} as remote_isp,
        {{ remote_ip_detail('finding_json', '.organization.org') }} as remote_org,

        -- dns, api calls, kubernetes
        {{ json_text('finding_json', action ~ '.dnsRequestAction.domain') }} as dns_domain,
        {{ json_text('finding_json', action ~ '.awsApiCallAction.api') }} as api_name,
        {{ json_text('finding_json', action ~ '.awsApiCallAction.serviceName') }} as api_service,
        {{ json_text('finding_json', action ~ '.awsApiCallAction.callerType') }} as caller_type,
        {{ json_text('finding_json', action ~ '.awsApiCallAction.errorCode') }} as api_error_code,
        {{ json_text('finding_json', action ~ '.kubernetesApiCallAction.verb') }} as k8s_verb,
        {{ json_text('finding_json', action ~ '.kubernetesApiCallAction.requestUri') }}
            as k8s_request_uri,
        try_cast(
            {{ json_text('finding_json', action ~ '.kubernetesApiCallAction.statusCode') }} as integer
        ) as k8s_status_code,

        -- export location, when the object came from GuardDuty's native S3 export
        {{ regexp_group('source_uri', export_pattern, 1) }} as export_account,
        {{ regexp_group('source_uri', export_pattern, 2) }} as export_region,
        try_cast(
            {{ regexp_group('source_uri', export_pattern, 3) }} || '-'
            || {{ regexp_group('source_uri', export_pattern, 4) }} || '-'
            || {{ regexp_group('source_uri', export_pattern, 5) }}
            as date
        ) as export_date,

        -- timestamps
        cast(created_at as {{ utc_timestamp_type() }}) as created_at,
        cast(updated_at as {{ utc_timestamp_type() }}) as updated_at,
        {{ parse_iso_timestamp(json_text('finding_json', '$.service.eventFirstSeen')) }}
            as event_first_seen,
        {{ parse_iso_timestamp(json_text('finding_json', '$.service.eventLastSeen')) }}
            as event_last_seen,

        -- lineage
        finding_json,
        source_uri,
        line_number,
        ingest_batch_id,
        cast(ingested_at as {{ utc_timestamp_type() }}) as ingested_at,
        cast(observed_at as {{ utc_timestamp_type() }}) as observed_at,
        cast(updated_date as date) as updated_date

    from deduplicated
{% endset %}
{{ extract_json_once(extracted_sql, 'finding_json', 'deduplicated') }}

),

final as (

    select
        *,
        {{ canonical_ip('reported_remote_ip') }} as remote_ip
    from extracted

)

select * from final
