{#
    Time to archive per finding, judged against the AWS Config rule guardduty-non-archived-findings
    targets, as things stood at `as_of` (the build time when unset): only versions updated, copies
    observed and findings created by then count, so a pinned rebuild gives the same figures. The
    archive times are observation times of archive transitions (int_finding_archive_transitions),
    not updatedAt: archiving does not make a new version.
#}
{%- set as_of = compliance_as_of() -%}

with

observations as (

    select * from {{ ref('stg_guardduty__finding_observations') }}
    where observed_at <= {{ as_of }} and updated_at <= {{ as_of }}

),

finding_versions as (

    select * from {{ ref('stg_guardduty__findings') }}

),

transitions as (

    select * from {{ ref('int_finding_archive_transitions') }}
    where observed_at <= {{ as_of }}

),

-- the current version as of as_of (greatest updated_at, then event_count) and, of its copies
-- observed by then, the latest (copy_order): its archived state is the finding's
current_copies as (

    select * from (
        select
            finding_id,
            finding_version_id,
            is_archived,
            row_number() over (
                partition by finding_id
                order by
                    updated_at desc,
                    event_count desc nulls last,
                    observed_at desc,
                    is_archived desc
            ) as copy_rank
        from observations
    ) as ranked
    where copy_rank = 1

),

findings as (

    select
        finding_versions.finding_id,
        finding_versions.account_id,
        finding_versions.region,
        finding_versions.finding_type,
        finding_versions.title,
        finding_versions.severity,
        finding_versions.severity_label,
        finding_versions.created_at,
        finding_versions.updated_at,
        current_copies.is_archived
    from current_copies
    inner join finding_versions
        on current_copies.finding_version_id = finding_versions.finding_version_id
    where not finding_versions.is_sample
        and finding_versions.created_at <= {{ as_of }}

),

archive_history as (

    select
        finding_id,
        min(case when is_archived then observed_at end) as first_archived_at,
        max(case when is_archived then observed_at end) as last_archived_at,
        max(case when not is_archived then observed_at end) as last_unarchived_at
    from transitions
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
        archive_history.first_archived_at is not null
            and not findings.is_archived as was_unarchived,
        {{ hours_between(
            'findings.created_at',
            'case when findings.is_archived then archive_history.last_archived_at end'
        ) }} as hours_to_archive,
        {{ hours_between('findings.created_at', as_of) }} as age_hours,
        ({{ archive_target_days('findings.severity_label') }}) * 24 as target_hours,

        -- timestamps
        findings.created_at,
        findings.updated_at,
        archive_history.first_archived_at,
        case when findings.is_archived then archive_history.last_archived_at end as archived_at,
        case when not findings.is_archived then archive_history.last_unarchived_at end
            as reopened_at,
        {{ as_of }} as evaluated_at

    from findings
    left join archive_history
        on findings.finding_id = archive_history.finding_id

),

-- within target: archived now, by an archive observed at most target_hours after creation; false
-- once archived later, or open (never archived, or reopened) past the target; null while open and
-- not yet due
judged as (

    select
        *,
        case
            when is_currently_archived then hours_to_archive <= target_hours
            when age_hours > target_hours then false
        end as is_within_target,
        not is_currently_archived and age_hours > target_hours as is_open_past_target
    from measured

)

select * from judged
