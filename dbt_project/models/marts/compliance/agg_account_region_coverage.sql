{#
    Sample findings count as activity (a sample proves the detector of that account and Region
    delivers into the lake) but never as findings: finding_count and the *_finding_* columns are
    over real findings only, so an account and Region with only samples has finding_count 0.
#}
{%- set as_of = compliance_as_of() -%}

with

finding_versions as (

    select * from {{ ref('stg_guardduty__findings') }}

),

findings as (

    select * from {{ ref('fct_findings') }}

),

version_activity as (

    select
        account_id,
        region,
        min(case when not is_sample then updated_at end) as first_finding_updated_at,
        max(case when not is_sample then updated_at end) as latest_finding_updated_at,
        max(updated_at) as latest_version_updated_at,
        max(ingested_at) as latest_ingested_at,
        count(distinct case when is_sample then finding_id end) as sample_finding_count
    from finding_versions
    group by account_id, region

),

finding_counts as (

    select
        account_id,
        region,
        count(*) as finding_count
    from findings
    group by account_id, region

),

final as (

    select
        -- grain
        version_activity.account_id,
        version_activity.region,

        -- counts
        cast(coalesce(finding_counts.finding_count, 0) as bigint) as finding_count,
        cast(version_activity.sample_finding_count as bigint) as sample_finding_count,

        -- timestamps
        version_activity.first_finding_updated_at,
        version_activity.latest_finding_updated_at,
        version_activity.latest_version_updated_at,
        version_activity.latest_ingested_at,
        {{ hours_between('version_activity.latest_finding_updated_at', as_of) }} / 24
            as days_since_latest_finding,
        {{ as_of }} as evaluated_at
    from version_activity
    left join finding_counts
        on
            version_activity.account_id = finding_counts.account_id
            and version_activity.region = finding_counts.region

)

select * from final
