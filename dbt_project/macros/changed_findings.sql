{#
    Incremental marts: each run recomputes only the findings re-ranked since the marts last
    caught up (int_findings_changed), and, for the daily aggregates, only the dates those findings
    are on or were on before.

    int_findings_current stamps every row it re-ranks with the run's start (reranked_at);
    int_findings_changes_applied records the latest stamp the marts have applied, written after
    them, so a run whose marts fail leaves its changes to the next run, which applies them again
    (every step is idempotent).
#}

{# When the re-ranked rows of this run were ranked. #}
{% macro reranked_now() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as {{ utc_timestamp_type() }})
{%- endmacro %}

{#-
    The latest reranked_at the marts have applied, as a literal, so that the filter below can skip
    the files and row groups of findings not re-ranked since. Read without a ref: the record is
    written after the models that read it (see the model).
-#}
{% macro changes_applied_until() -%}
    {%- set applied = adapter.get_relation(
        database=this.database, schema=this.schema, identifier='int_findings_changes_applied'
    ) -%}
    {%- set latest = none -%}
    {%- if applied is not none and execute -%}
        {%- set rows = run_query('select max(reranked_at) from ' ~ applied).rows -%}
        {%- set latest = rows[0][0] if rows else none -%}
    {%- endif -%}
    cast('{{ latest if latest is not none else "1970-01-01 00:00:00" }}' as {{ utc_timestamp_type() }})
{%- endmacro %}

{# Rows of int_findings_current re-ranked since the marts last caught up. #}
{% macro reranked_since_applied() -%}
    reranked_at > {{ changes_applied_until() }}
{%- endmacro %}

{# The ids of the findings to recompute in an incremental run. #}
{% macro changed_finding_ids() -%}
    select finding_id from {{ ref('int_findings_changed') }}
{%- endmacro %}

{# The finding dates to recompute: where changed findings are now, and where they were. #}
{% macro changed_finding_dates() -%}
    select finding_date from {{ ref('int_findings_changed') }}
    where finding_date is not null
    union
    select previous_finding_date from {{ ref('int_findings_changed') }}
    where previous_finding_date is not null
{%- endmacro %}

{# The filter of an incremental run on a mart's input: the changed findings only. #}
{% macro where_finding_changed() -%}
    {%- if is_incremental() %}
    where finding_id in ({{ changed_finding_ids() }})
    {%- endif %}
{%- endmacro %}

{# The filter of an incremental run on a mart's input: the dates to recompute only. #}
{% macro where_date_changed() -%}
    {%- if is_incremental() %}
    where finding_date in ({{ changed_finding_dates() }})
    {%- endif %}
{%- endmacro %}

{#
    Pre-hook of an incremental mart: removes the rows about to be recomputed, including those
    that no longer have a replacement (a finding become a sample, an endpoint gone, a date left
    empty), which delete+insert and merge alone would keep.
#}
{% macro delete_changed_rows(column, changed_keys_sql) -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where {{ column }} in ({{ changed_keys_sql }})
    {%- endif -%}
{%- endmacro %}
