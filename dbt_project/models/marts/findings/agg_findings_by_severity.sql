with

findings as (

    select * from {{ ref('fct_findings') }}

),

aggregated as (

    select
        finding_date,
        account_id,
        region,
        severity_label,
        count(distinct finding_id) as finding_count,
        cast(coalesce(sum(occurrence_count), 0) as bigint) as occurrence_count
    from findings
    group by finding_date, account_id, region, severity_label

)

select * from aggregated
