{# Facts about findings derived from their remote endpoints (fct_finding_remote_endpoints). #}

{#
    The countries of each finding: one row per finding and distinct (country_code, country_name)
    among its located endpoints in `endpoints`.
#}
{% macro finding_countries(endpoints) -%}
    select distinct
        finding_id,
        country_code,
        country_name
    from {{ endpoints }}
    where country_name is not null
{%- endmacro %}

{#
    The first sighting in each account of each value of `keys` (a country, an autonomous system)
    among the remote endpoints of current findings, not of every version: cheaper, and the endpoint
    tables already exist. A version's action details are those of its latest occurrence, so a value
    that appeared only in an older version of a finding is not seen here. A sighting is dated by the
    finding's first occurrence (eventFirstSeen, else createdAt).

    `finding_values` selects from the CTE `endpoints` one row per finding and value: finding_id,
    the `keys` and the `labels` (such as an ASN's organisation), a label being the first sighting's
    or, when it has none, any sighting's in the account.
#}
{% macro first_seen_remote(keys, finding_values, labels=[]) -%}
{%- set as_of = compliance_as_of() -%}
{%- set sighting_partition = (['account_id'] + keys) | join(', ') -%}
with

-- findings created after as_of are left out; the endpoints are those of the current version
findings as (

    select * from {{ ref('fct_findings') }}
    where created_at <= {{ as_of }}

),

endpoints as (

    select * from {{ ref('fct_finding_remote_endpoints') }}

),

finding_values as (

    {{ finding_values | trim }}

),

sightings as (

    select
        findings.account_id,
        {%- for column in keys + labels %}
        finding_values.{{ column }},
        {%- endfor %}
        finding_values.finding_id,
        coalesce(findings.first_seen_at, findings.created_at) as seen_at
    from finding_values
    inner join findings
        on finding_values.finding_id = findings.finding_id

),

ranked as (

    select
        *,
        row_number() over (
            partition by {{ sighting_partition }}
            order by seen_at, finding_id
        ) as sighting_rank,
        count(*) over (partition by {{ sighting_partition }}) as finding_count,
        max(seen_at) over (partition by {{ sighting_partition }}) as latest_seen_at
        {%- for label in labels %},
        max({{ label }}) over (partition by {{ sighting_partition }}) as any_{{ label }}
        {%- endfor %}
    from sightings

),

first_sightings as (

    select
        account_id,
        {%- for key in keys %}
        {{ key }},
        {%- endfor %}
        {%- for label in labels %}
        coalesce({{ label }}, any_{{ label }}) as {{ label }},
        {%- endfor %}
        finding_id as first_finding_id,
        seen_at as first_seen_at,
        latest_seen_at,
        cast(finding_count as bigint) as finding_count
    from ranked
    where sighting_rank = 1

)

select * from first_sightings
{%- endmacro %}
