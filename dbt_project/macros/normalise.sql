{# Canonical text of values that GuardDuty writes in more than one way (data-contract.md §3). #}

{#
    Every match of `pattern` in `text` replaced; back-references written \\1 (Jinja) in
    `replacement`. Athena (Trino) replaces every match and writes them $1.
#}
{% macro regexp_replace_all(text, pattern, replacement) -%}
    {{ return(adapter.dispatch('regexp_replace_all', 'guardduty')(text, pattern, replacement)) }}
{%- endmacro %}

{% macro default__regexp_replace_all(text, pattern, replacement) -%}
    regexp_replace({{ text }}, '{{ pattern }}', '{{ modules.re.sub("\\\\([0-9])", "$\\1", replacement) }}')
{%- endmacro %}

{% macro duckdb__regexp_replace_all(text, pattern, replacement) -%}
    regexp_replace({{ text }}, '{{ pattern }}', '{{ replacement }}', 'g')
{%- endmacro %}

{#
    An ASN as the text of an integer: '43350.0' (the JSON number 43350.0) and '043350' are '43350'.
    Text that is not an integer value is kept as reported.
#}
{% macro integer_text(text) -%}
    coalesce(
        case
            when try_cast({{ text }} as double) = floor(try_cast({{ text }} as double))
                then cast(try_cast(try_cast({{ text }} as double) as bigint) as varchar)
        end,
        {{ text }}
    )
{%- endmacro %}

{#
    An IP address in canonical text. IPv4 as reported. IPv6 (RFC 5952): lower case, leading zeros
    of each group dropped and, when the address is written out in full (eight groups, no '::'),
    the longest run of two or more zero groups (the first of equal runs) written '::'. An address
    already holding '::' or an embedded IPv4 part is not re-compressed: SQL cannot expand it.
#}
{% macro canonical_ip(ip) -%}
    {%- set lowered = regexp_replace_all('lower(' ~ ip ~ ')', '(^|:)0+([0-9a-f])', '\\1\\2') -%}
    {%- set padded = "':' || " ~ lowered ~ " || ':'" -%}
    case
        when strpos({{ ip }}, ':') = 0 then {{ ip }}
        when strpos({{ ip }}, '::') > 0 or strpos({{ ip }}, '.') > 0 then {{ lowered }}
        {%- for zero_groups in range(8, 1, -1) %}
        when strpos({{ padded }}, ':{{ "0:" * zero_groups }}') > 0
            then {{ regexp_replace_all(
                regexp_replace_all(
                    regexp_replace_all(
                        padded, '^(.*?)' ~ ':0' * zero_groups ~ ':(.*)$', '\\1::\\2'
                    ),
                    '^:([^:])', '\\1'
                ),
                '([^:]):$', '\\1'
            ) }}
        {%- endfor %}
        else {{ lowered }}
    end
{%- endmacro %}
