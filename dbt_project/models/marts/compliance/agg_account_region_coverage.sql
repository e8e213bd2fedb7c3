{#
    Sample findings count as activity (a sample proves the detector of that account and Region
    delivers into the lake) but never as findings: finding_count and the *_finding_* columns are
    over real findings only, so an account and Region with only samples has finding_count 0.
    As things stood at `as_of`: versions updated after it are left out.
#}
{%- set as_of = compliance_as_of() -%}

with

finding_versions as (

    select * from {{ ref('stg_guardduty__findings') }}
    where updated_at <= {{ as_of }} and created_at <= {{ as_of }}

),

version_activity as (

    select
        account_id,
        region,
        min(case when not is_sample then updated_at end) as first_finding_updated_at,
        max(case when not is_sample then updated_at end) as latest_finding_updated_at,
        max(updated_at) as latest_version_updated_at,
        max(case when ingested_at <= {{ as_of }} then ingested_at end) as latest_ingested_at,
        count(distinct case when not is_sample then finding_id end) as finding_count,
        count(distinct case when is_sample then finding_id end) as sample_finding_count
    from finding_versions
    group by account_id, region

),

final as (

    select
        -- grain
        version_activity.account_id,
        version_activity.region,

        -- counts
        cast(version_activity.finding_count as bigint) as finding_count,
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

)

select * from final
