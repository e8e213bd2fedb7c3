{{ config(
    materialized='incremental',
    unique_key=['finding_date', 'account_id', 'region', 'resource_type'],
    pre_hook="{{ delete_changed_rows('finding_date', changed_finding_dates()) }}"
) }}
-- depends_on: {{ ref('int_findings_changed') }}
{{ daily_findings_by(['resource_type']) }}
