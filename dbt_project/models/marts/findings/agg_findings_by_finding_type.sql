with

findings as (

    select * from {{ ref('fct_findings') }}

),

aggregated as (

    select
        finding_date,
        account_id,
        region,
        finding_type,
        threat_purpose,
        resource_type_affected,
        threat_family,
        count(distinct finding_id) as finding_count,
        cast(coalesce(sum(occurrence_count), 0) as bigint) as occurrence_count,
        max(severity) as max_severity
    from findings
    group by
        finding_date,
        account_id,
        region,
        finding_type,
        threat_purpose,
        resource_type_affected,
        threat_family

)

select * from aggregated
