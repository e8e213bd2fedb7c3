{{ config(
    materialized='incremental',
    unique_key=['finding_date', 'account_id', 'region'],
    pre_hook="{{ delete_changed_rows('finding_date', changed_finding_dates()) }}"
) }}
-- depends_on: {{ ref('int_findings_changed') }}
{{ daily_findings_by(measures=[
    "count(distinct case when severity_label = 'Critical' then finding_id end) as critical_finding_count",
    "count(distinct case when severity_label = 'High' then finding_id end) as high_finding_count",
    "count(distinct case when severity_label = 'Medium' then finding_id end) as medium_finding_count",
    "count(distinct case when severity_label = 'Low' then finding_id end) as low_finding_count",
    "max(severity) as max_severity",
]) }}
