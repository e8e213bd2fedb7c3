with

endpoints as (

    select * from {{ ref('fct_finding_remote_endpoints') }}

),

finding_asns as (

    select
        asn,
        finding_id,
        max(asn_org) as asn_org,
        count(distinct ip_address) as ip_address_count,
        max(occurrence_count) as occurrence_count
    from endpoints
    where asn is not null
    group by asn, finding_id

),

aggregated as (

    select
        asn,
        max(asn_org) as asn_org,
        count(*) as finding_count,
        cast(coalesce(sum(occurrence_count), 0) as bigint) as occurrence_count,
        cast(sum(ip_address_count) as bigint) as endpoint_ip_count
    from finding_asns
    group by asn

),

ranked as (

    select
        *,
        row_number() over (order by finding_count desc, occurrence_count desc, asn) as asn_rank
    from aggregated

)

select * from ranked
