{{ config(materialized='incremental', incremental_strategy='append') }}
-- depends_on: {{ ref('fct_findings') }}
-- depends_on: {{ ref('fct_finding_remote_endpoints') }}
-- depends_on: {{ ref('agg_findings_daily') }}
-- depends_on: {{ ref('agg_findings_by_severity') }}
-- depends_on: {{ ref('agg_findings_by_action_type') }}
-- depends_on: {{ ref('agg_findings_by_country') }}
-- depends_on: {{ ref('agg_findings_by_finding_type') }}
-- depends_on: {{ ref('agg_findings_by_resource_type') }}
{#
    How far the incremental marts have applied int_findings_changed: built after all of them in
    the same dbt invocation, so a run in which one fails records nothing and its changes are
    applied again by the next run (macros/changed_findings.sql).
#}

select max(reranked_at) as reranked_at
from {{ ref('int_findings_changed') }}
having max(reranked_at) is not null
