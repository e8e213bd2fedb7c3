with

endpoints as (

    select * from {{ ref('fct_finding_remote_endpoints') }}

),

-- an IP's occurrences are counted once per finding, however many endpoints repeat it
finding_ips as (

    select
        ip_address,
        finding_id,
        max(ip_version) as ip_version,
        max(country_code) as country_code,
        max(country_name) as country_name,
        max(asn) as asn,
        max(asn_org) as asn_org,
        max(occurrence_count) as occurrence_count,
        min(finding_date) as finding_date
    from endpoints
    group by ip_address, finding_id

),

aggregated as (

    select
        ip_address,
        max(ip_version) as ip_version,
        max(country_code) as country_code,
        max(country_name) as country_name,
        max(asn) as asn,
        max(asn_org) as asn_org,
        count(*) as finding_count,
        cast(coalesce(sum(occurrence_count), 0) as bigint) as occurrence_count,
        min(finding_date) as first_finding_date,
        max(finding_date) as last_finding_date
    from finding_ips
    group by ip_address

),

ranked as (

    select
        *,
        row_number() over (
            order by finding_count desc, occurrence_count desc, ip_address
        ) as ip_rank
    from aggregated

)

select * from ranked
