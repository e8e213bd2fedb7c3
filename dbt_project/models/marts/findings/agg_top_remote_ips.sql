with

endpoints as (

    select * from {{ ref('fct_finding_remote_endpoints') }}
    where ip_address is not null

),

-- an IP's occurrences are counted once per finding, however many endpoints repeat it
finding_ips as (

    select
        ip_address,
        finding_id,
        max(ip_version) as ip_version,
        max(occurrence_count) as occurrence_count,
        min(finding_date) as finding_date
    from endpoints
    group by ip_address, finding_id

),

-- where an IP is, and its autonomous system, each as one endpoint reported them (a code never
-- paired with another row's name): the latest finding's located endpoint
ranked_endpoints as (

    select
        ip_address,
        country_code,
        country_name,
        asn,
        asn_org,
        row_number() over (
            partition by ip_address
            order by
                case when country_name is null then 1 else 0 end,
                finding_date desc,
                finding_id desc,
                endpoint_source,
                endpoint_ordinal
        ) as location_rank,
        row_number() over (
            partition by ip_address
            order by
                case when asn is null then 1 else 0 end,
                finding_date desc,
                finding_id desc,
                endpoint_source,
                endpoint_ordinal
        ) as asn_rank
    from endpoints

),

aggregated as (

    select
        ip_address,
        max(ip_version) as ip_version,
        count(*) as finding_count,
        cast(coalesce(sum(occurrence_count), 0) as bigint) as occurrence_count,
        min(finding_date) as first_finding_date,
        max(finding_date) as last_finding_date
    from finding_ips
    group by ip_address

),

ranked as (

    select
        aggregated.ip_address,
        aggregated.ip_version,
        locations.country_code,
        locations.country_name,
        systems.asn,
        systems.asn_org,
        aggregated.finding_count,
        aggregated.occurrence_count,
        aggregated.first_finding_date,
        aggregated.last_finding_date,
        row_number() over (
            order by
                aggregated.finding_count desc,
                aggregated.occurrence_count desc,
                aggregated.ip_address
        ) as ip_rank
    from aggregated
    inner join ranked_endpoints as locations
        on aggregated.ip_address = locations.ip_address and locations.location_rank = 1
    inner join ranked_endpoints as systems
        on aggregated.ip_address = systems.ip_address and systems.asn_rank = 1

)

select * from ranked
