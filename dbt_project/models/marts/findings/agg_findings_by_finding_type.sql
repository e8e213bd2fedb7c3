{{ config(
    materialized='incremental',
    unique_key=['finding_date', 'account_id', 'region', 'finding_type', 'threat_purpose', 'resource_type_affected', 'threat_family'],
    pre_hook="{{ delete_changed_rows('finding_date', changed_finding_dates()) }}"
) }}
-- depends_on: {{ ref('int_findings_changed') }}
{{ daily_findings_by(
    ['finding_type', 'threat_purpose', 'resource_type_affected', 'threat_family'],
    measures=['max(severity) as max_severity'],
) }}
