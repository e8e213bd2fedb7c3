{#
    Current findings per (finding_date, account_id, region, *dimensions): how many, how many
    occurrences, then each of `measures` (aggregate expressions with their alias). The grain and
    body of every daily aggregate mart; an incremental run recomputes the changed dates only.

    The rows counted are those of `counted`, by default the `findings` CTE (fct_findings). A mart
    whose dimension is not a column of fct_findings calls the macro with a block of further CTEs,
    which may read `findings`, and names the last of them as `counted`.
#}
{% macro daily_findings_by(dimensions=[], measures=[], counted='findings') -%}
{%- set grain = ['finding_date', 'account_id', 'region'] + dimensions -%}
with

findings as (

    select * from {{ ref('fct_findings') }}
    {{- where_date_changed() }}

),
{%- if caller is defined %}

{{ caller() | trim }},
{%- endif %}

aggregated as (

    select
        {%- for column in grain %}
        {{ column }},
        {%- endfor %}
        count(distinct finding_id) as finding_count,
        cast(coalesce(sum(occurrence_count), 0) as bigint) as occurrence_count
        {%- for measure in measures %},
        {{ measure }}
        {%- endfor %}
    from {{ counted }}
    group by {{ grain | join(', ') }}

)

select * from aggregated
{%- endmacro %}
