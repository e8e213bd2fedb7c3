{# JSON access on the `finding_json` text (DuckDB json extension / Athena Trino JSON functions). #}

{# The scalar at `path` as varchar; null when missing or JSON null. #}
{% macro json_text(json, path) -%}
    {{ return(adapter.dispatch('json_text', 'guardduty')(json, path)) }}
{%- endmacro %}

{% macro default__json_text(json, path) -%}
    json_extract_scalar({{ json }}, '{{ path }}')
{%- endmacro %}

{% macro duckdb__json_text(json, path) -%}
    json_extract_string({{ json }}, '{{ path }}')
{%- endmacro %}

{# Like json_text, for a varchar that may not be valid JSON (additionalInfo.value). #}
{% macro json_text_from_string(text, path) -%}
    {{ return(adapter.dispatch('json_text_from_string', 'guardduty')(text, path)) }}
{%- endmacro %}

{% macro default__json_text_from_string(text, path) -%}
    json_extract_scalar(try(json_parse({{ text }})), '{{ path }}')
{%- endmacro %}

{% macro duckdb__json_text_from_string(text, path) -%}
    case when json_valid({{ text }}) then json_extract_string({{ text }}, '{{ path }}') end
{%- endmacro %}

{# The JSON value (object or array) at `path`, typed JSON on both engines. #}
{% macro json_value(json, path) -%}
    {{ return(adapter.dispatch('json_value', 'guardduty')(json, path)) }}
{%- endmacro %}

{% macro default__json_value(json, path) -%}
    json_extract({{ json }}, '{{ path }}')
{%- endmacro %}

{# Number of elements of the array at `path`; null when missing. #}
{% macro json_array_size(json, path) -%}
    {{ return(adapter.dispatch('json_array_size', 'guardduty')(json, path)) }}
{%- endmacro %}

{% macro default__json_array_size(json, path) -%}
    cast(json_array_length(json_extract({{ json }}, '{{ path }}')) as bigint)
{%- endmacro %}

{% macro duckdb__json_array_size(json, path) -%}
    cast(json_array_length({{ json }}, '{{ path }}') as bigint)
{%- endmacro %}

{#
    A join clause exploding the JSON array at `path` into rows `<alias>.element` (JSON) and
    `<alias>.ordinal` (1-based). Rows without the array (or with a non-array) produce no rows.
#}
{% macro unnest_json_array(json, path, alias) -%}
    {{ return(adapter.dispatch('unnest_json_array', 'guardduty')(json, path, alias)) }}
{%- endmacro %}

{% macro default__unnest_json_array(json, path, alias) -%}
    cross join unnest(try_cast(json_extract({{ json }}, '{{ path }}') as array(json)))
        with ordinality as {{ alias }} (element, ordinal)
{%- endmacro %}

{% macro duckdb__unnest_json_array(json, path, alias) -%}
    cross join unnest(try_cast(json_extract({{ json }}, '{{ path }}') as json[]))
        with ordinality as {{ alias }} (element, ordinal)
{%- endmacro %}

{#
    `sql` (a select reading `relation`) with every json_text(`json`, path) evaluated from one
    parse of `json` per row. DuckDB re-parses the JSON text for each json_extract_string call, and
    the staging model makes about 80 of them per finding: a list of paths parses once and returns
    the same values (the same function), about 4x faster with far less memory at 100k rows.
    Other engines get `sql` unchanged.
#}
{% macro extract_json_once(sql, json, relation) -%}
    {{ return(adapter.dispatch('extract_json_once', 'guardduty')(sql, json, relation)) }}
{%- endmacro %}

{% macro default__extract_json_once(sql, json, relation) -%}
    {{ return(sql) }}
{%- endmacro %}

{% macro duckdb__extract_json_once(sql, json, relation) -%}
    {%- set call = 'json_extract_string(' ~ json ~ ", '" -%}
    {%- set paths = [] -%}
    {%- for path in modules.re.findall(modules.re.escape(call) ~ "([^']*)'\\)", sql) -%}
        {%- if path not in paths %}{% do paths.append(path) %}{% endif -%}
    {%- endfor -%}
    {%- set rewritten = namespace(sql=sql) -%}
    {%- for path in paths -%}
        {%- set rewritten.sql = rewritten.sql | replace(
            call ~ path ~ "')", '_json_fields[' ~ loop.index ~ ']'
        ) -%}
    {%- endfor -%}
    {%- set parsed -%}
        (select *, json_extract_string({{ json }}, [{% for path in paths %}'{{ path }}'{{ ', ' if not loop.last }}{% endfor %}]) as _json_fields from {{ relation }}) as {{ relation }}
    {%- endset -%}
    {%- if paths -%}
        {%- set rewritten.sql = rewritten.sql | replace('from ' ~ relation ~ '\n', 'from ' ~ parsed ~ '\n') -%}
    {%- endif -%}
    {{ return(rewritten.sql) }}
{%- endmacro %}
