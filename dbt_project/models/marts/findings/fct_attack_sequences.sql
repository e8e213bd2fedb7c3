{%- set sequence = '$.service.detection.sequence' -%}

with

current_findings as (

    select * from {{ ref('int_findings_current') }}

),

findings as (

    select * from {{ ref('fct_findings') }}

),

sequences as (

    select
        findings.finding_id,
        findings.account_id,
        findings.region,
        findings.finding_type,
        findings.severity,
        findings.severity_label,
        findings.title,
        {{ json_text('current_findings.finding_json', sequence ~ '.uid') }} as sequence_uid,
        {{ json_text('current_findings.finding_json', sequence ~ '.description') }}
            as sequence_description,
        coalesce({{ json_array_size('current_findings.finding_json', sequence ~ '.signals') }}, 0)
            as signal_count,
        coalesce({{ json_array_size('current_findings.finding_json', sequence ~ '.actors') }}, 0)
            as actor_count,
        coalesce({{ json_array_size('current_findings.finding_json', sequence ~ '.endpoints') }}, 0)
            as endpoint_count,
        coalesce({{ json_array_size('current_findings.finding_json', sequence ~ '.resources') }}, 0)
            as resource_count,
        findings.finding_date,
        findings.created_at,
        findings.updated_at,
        findings.first_seen_at,
        findings.last_seen_at
    from findings
    inner join current_findings
        on findings.finding_id = current_findings.finding_id
    where lower(findings.threat_purpose) = 'attacksequence'
        or findings.resource_type = 'AttackSequence'

)

select * from sequences
