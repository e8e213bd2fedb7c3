{#
    Time to archive per finding, judged against the AWS Config rule guardduty-non-archived-findings
    targets. The archive history comes from every version in staging, so a finding archived and
    later unarchived still has its first archive time, whatever order the versions arrived in.
#}
{%- set as_of = compliance_as_of() -%}

with

findings as (

    select * from {{ ref('fct_findings') }}

),

finding_versions as (

    select * from {{ ref('stg_guardduty__findings') }}

),

-- the earliest version seen archived: ordering by updated_at alone suffices, as versions with the
-- same updated_at (different counts) share it
archive_history as (

    select
        finding_id,
        min(case when is_archived then updated_at end) as first_archived_at,
        count(case when is_archived then 1 end) as archived_version_count
    from finding_versions
    group by finding_id

),

measured as (

    select
        -- ids
        findings.finding_id,
        findings.account_id,
        findings.region,

        -- classification of the current version
        findings.finding_type,
        findings.title,
        findings.severity,
        findings.severity_label,

        -- archive state
        findings.is_archived as is_currently_archived,
        coalesce(archive_history.archived_version_count, 0) > 0
            and not findings.is_archived as was_unarchived,
        {{ hours_between('findings.created_at', 'archive_history.first_archived_at') }}
            as hours_to_archive,
        {{ hours_between('findings.created_at', as_of) }} as age_hours,
        ({{ archive_target_days('findings.severity_label') }}) * 24 as target_hours,

        -- timestamps
        findings.created_at,
        findings.updated_at,
        archive_history.first_archived_at,
        {{ as_of }} as evaluated_at

    from findings
    left join archive_history
        on findings.finding_id = archive_history.finding_id

),

-- within target: archived at most target_hours after creation; false once archived later or
-- still open past the target; null while open and not yet due
judged as (

    select
        *,
        case
            when hours_to_archive is not null then hours_to_archive <= target_hours
            when age_hours > target_hours then false
        end as is_within_target,
        not is_currently_archived and age_hours > target_hours as is_open_past_target
    from measured

)

select * from judged
