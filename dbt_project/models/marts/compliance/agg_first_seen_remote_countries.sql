{#
    From the remote endpoints of current findings (fct_finding_remote_endpoints), not of every
    version: cheaper, and the endpoint tables already exist. A version's action details are those of
    its latest occurrence, so a country that appeared only in an older version of a finding is not
    seen here. A sighting is dated by the finding's first occurrence (eventFirstSeen, else
    createdAt). Unlocated endpoints (no country) are left out.
#}
{%- set as_of = compliance_as_of() -%}

with

-- findings created after as_of are left out; the endpoints are those of the current version
findings as (

    select * from {{ ref('fct_findings') }}
    where created_at <= {{ as_of }}

),

endpoints as (

    select * from {{ ref('fct_finding_remote_endpoints') }}

),

finding_countries as (

    select distinct
        finding_id,
        country_code,
        country_name
    from endpoints
    where country_name is not null

),

sightings as (

    select
        findings.account_id,
        finding_countries.country_code,
        finding_countries.country_name,
        finding_countries.finding_id,
        coalesce(findings.first_seen_at, findings.created_at) as seen_at
    from finding_countries
    inner join findings
        on finding_countries.finding_id = findings.finding_id

),

ranked as (

    select
        *,
        row_number() over (
            partition by account_id, country_code, country_name
            order by seen_at, finding_id
        ) as sighting_rank,
        count(*) over (partition by account_id, country_code, country_name) as finding_count,
        max(seen_at) over (partition by account_id, country_code, country_name)
            as latest_seen_at
    from sightings

),

first_sightings as (

    select
        account_id,
        country_code,
        country_name,
        finding_id as first_finding_id,
        seen_at as first_seen_at,
        latest_seen_at,
        cast(finding_count as bigint) as finding_count
    from ranked
    where sighting_rank = 1

)

select * from first_sightings
