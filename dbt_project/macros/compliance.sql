{# Time arithmetic and archive targets for the compliance marts (NIST 800-53 AU-6). #}

{#
    "Now" of the compliance marts: the `as_of` var (a UTC 'YYYY-MM-DD[ HH:MM[:SS[.ffffff]]]'
    string) when given, else the instant the dbt invocation started. One instant for every model
    of a build, so the evaluated_at the review report records re-runs all of its marts as they
    were (each model's own clock would put them milliseconds apart). The var is checked before
    it reaches the SQL.
#}
{% macro compliance_as_of() -%}
    {%- set as_of = var('as_of', none) -%}
    {%- if as_of is none or (as_of | string | trim) == '' -%}
        {%- set as_of = run_started_at.strftime('%Y-%m-%d %H:%M:%S.%f') -%}
    {%- endif -%}
    {%- set text = as_of | string | trim | replace('T', ' ') | replace('Z', '') -%}
    {%- set pattern = '[0-9]{4}-[0-9]{2}-[0-9]{2}( [0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]{1,6})?)?)?' -%}
    {%- if not modules.re.fullmatch(pattern, text) -%}
        {{ exceptions.raise_compiler_error(
            "var as_of=" ~ as_of ~ " is not a UTC timestamp like '2024-03-31 23:59:59'"
        ) }}
    {%- endif -%}
    {%- if text | length == 10 -%}
        {%- set text = text ~ ' 00:00:00' -%}
    {%- elif text | length == 16 -%}
        {%- set text = text ~ ':00' -%}
    {%- endif -%}
    {{ return("cast('" ~ text ~ "' as " ~ utc_timestamp_type() ~ ")") }}
{%- endmacro %}

{# Hours from `start` to `end` (timestamps) as a double; null when either is null. #}
{% macro hours_between(start, end) -%}
    {{ return(adapter.dispatch('hours_between', 'guardduty')(start, end)) }}
{%- endmacro %}

{% macro default__hours_between(start, end) -%}
    cast(date_diff('millisecond', {{ start }}, {{ end }}) as double) / 3600000
{%- endmacro %}

{# The median of a numeric expression, nulls ignored (Athena has only the approximate one). #}
{% macro median_of(expression) -%}
    {{ return(adapter.dispatch('median_of', 'guardduty')(expression)) }}
{%- endmacro %}

{% macro default__median_of(expression) -%}
    approx_percentile({{ expression }}, 0.5)
{%- endmacro %}

{% macro duckdb__median_of(expression) -%}
    cast(median({{ expression }}) as double)
{%- endmacro %}

{#
    Days within which a finding of a severity should be archived, from the vars
    archive_target_days_<severity> (dbt_project.yml); Critical falls back to High when unset.
#}
{% macro archive_target_days(severity_label) -%}
    {%- set high = var('archive_target_days_high') -%}
    {%- set critical = var('archive_target_days_critical', none) -%}
    {%- set days = {
        'Critical': high if critical is none else critical,
        'High': high,
        'Medium': var('archive_target_days_medium'),
        'Low': var('archive_target_days_low'),
    } -%}
    {%- for label, value in days.items() -%}
        {%- if value is none or (value | string) | float(-1) <= 0 -%}
            {{ exceptions.raise_compiler_error(
                "var archive_target_days_" ~ label | lower ~ "=" ~ value
                ~ " is not a positive number of days"
            ) }}
        {%- endif -%}
    {%- endfor -%}
    case {{ severity_label }}
        {%- for label, value in days.items() %}
        when '{{ label }}' then cast({{ (value | string) | float }} as double)
        {%- endfor %}
    end
{%- endmacro %}
