{#
    Same sources and dating as agg_first_seen_remote_countries. The placeholder ASNs '-1' and '0'
    (no autonomous system known) are left out.
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

finding_asns as (

    select
        finding_id,
        asn,
        max(asn_org) as asn_org
    from endpoints
    where asn is not null and asn not in ('-1', '0')
    group by finding_id, asn

),

sightings as (

    select
        findings.account_id,
        finding_asns.asn,
        finding_asns.asn_org,
        finding_asns.finding_id,
        coalesce(findings.first_seen_at, findings.created_at) as seen_at
    from finding_asns
    inner join findings
        on finding_asns.finding_id = findings.finding_id

),

ranked as (

    select
        *,
        row_number() over (
            partition by account_id, asn
            order by seen_at, finding_id
        ) as sighting_rank,
        count(*) over (partition by account_id, asn) as finding_count,
        max(seen_at) over (partition by account_id, asn) as latest_seen_at,
        max(asn_org) over (partition by account_id, asn) as any_asn_org
    from sightings

),

first_sightings as (

    select
        account_id,
        asn,
        coalesce(asn_org, any_asn_org) as asn_org,
        finding_id as first_finding_id,
        seen_at as first_seen_at,
        latest_seen_at,
        cast(finding_count as bigint) as finding_count
    from ranked
    where sighting_rank = 1

)

select * from first_sightings
