{{ config(
    materialized='incremental',
    unique_key='finding_id',
    pre_hook="{{ delete_changed_rows('finding_id', changed_finding_ids()) }}"
) }}
-- depends_on: {{ ref('int_findings_changed') }}

with

current_findings as (

    select * from {{ ref('int_findings_current') }}
    {%- if is_incremental() %}
    where {{ reranked_since_applied() }}
    {%- endif %}

),

real_findings as (

    select * from current_findings
    where not is_sample

),

final as (

    select
        -- ids
        finding_id,
        finding_arn,
        account_id,
        region,
        detector_id,

        -- classification
        finding_type,
        threat_purpose,
        resource_type_affected,
        threat_family,
        detection_mechanism,
        artifact,
        resource_type,
        resource_role,
        feature_name,
        action_type,
        connection_direction,
        title,

        -- severity
        severity,
        severity_label,

        -- state and counts
        coalesce(is_archived, false) as is_archived,
        event_count as occurrence_count,
        version_count,

        -- the single remote endpoint, when the action has one
        remote_ip,
        remote_country,
        remote_country_code,
        instance_id,
        access_key_user,
        api_name,
        dns_domain,
        threat_list_name,
        associated_attack_sequence_arn,

        -- timestamps
        cast(created_at as date) as finding_date,
        created_at,
        updated_at,
        event_first_seen as first_seen_at,
        event_last_seen as last_seen_at,
        ingested_at

    from real_findings

)

select * from final
