{# 'true' / 'True' / true -> true, 'false' -> false, anything else -> null. #}
{% macro parse_boolean(text) -%}
    {{ return(adapter.dispatch('parse_boolean', 'guardduty')(text)) }}
{%- endmacro %}

{% macro default__parse_boolean(text) -%}
    case lower(trim({{ text }})) when 'true' then true when 'false' then false end
{%- endmacro %}

{# ISO-8601 text (with or without milliseconds, 'Z' or an offset) -> UTC timestamp; null if bad. #}
{% macro parse_iso_timestamp(text) -%}
    {{ return(adapter.dispatch('parse_iso_timestamp', 'guardduty')(text)) }}
{%- endmacro %}

{% macro default__parse_iso_timestamp(text) -%}
    cast(try(from_iso8601_timestamp({{ text }})) at time zone 'UTC' as {{ utc_timestamp_type() }})
{%- endmacro %}

{# A time without an offset is UTC (GuardDuty writes UTC), never the session's time zone. #}
{% macro duckdb__parse_iso_timestamp(text) -%}
    case
        when regexp_matches({{ text }}, '[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?\s*([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)$')
            then cast(timezone('UTC', try_cast({{ text }} as timestamptz)) as timestamp)
        else try_cast({{ text }} as timestamp)
    end
{%- endmacro %}

{# UTC timestamps: Athena Iceberg tables only store microsecond precision. #}
{% macro utc_timestamp_type() -%}
    {{ return(adapter.dispatch('utc_timestamp_type', 'guardduty')()) }}
{%- endmacro %}

{% macro default__utc_timestamp_type() -%}
    timestamp
{%- endmacro %}

{% macro athena__utc_timestamp_type() -%}
    timestamp(6)
{%- endmacro %}

{#
    Country name -> matching key: accents stripped, lowercased, only [a-z0-9] kept, so that
    'Côte d’Ivoire', "Cote d'Ivoire" and 'COTE DIVOIRE' meet. scripts/build_country_seed.py applies
    the same rule to the seed.
#}
{% macro country_key(name) -%}
    {{ return(adapter.dispatch('country_key', 'guardduty')(name)) }}
{%- endmacro %}

{% macro default__country_key(name) -%}
    nullif(
        regexp_replace(
            lower(regexp_replace(normalize({{ name }}, NFD), '\p{Mn}', '')), '[^a-z0-9]', ''
        ),
        ''
    )
{%- endmacro %}

{% macro duckdb__country_key(name) -%}
    nullif(regexp_replace(lower(strip_accents({{ name }})), '[^a-z0-9]', '', 'g'), '')
{%- endmacro %}

{# Group `group` of a regular expression match; null when absent (DuckDB returns ''). #}
{% macro regexp_group(text, pattern, group) -%}
    nullif(regexp_extract({{ text }}, '{{ pattern }}', {{ group }}), '')
{%- endmacro %}

{# GuardDuty severity bands on the double, thresholds not rounding. #}
{% macro severity_label(severity) -%}
    case
        when {{ severity }} >= 9.0 then 'Critical'
        when {{ severity }} >= 7.0 then 'High'
        when {{ severity }} >= 4.0 then 'Medium'
        else 'Low'
    end
{%- endmacro %}

{# Trimmed text, '' -> null. #}
{% macro clean_text(text) -%}
    nullif(trim({{ text }}), '')
{%- endmacro %}
