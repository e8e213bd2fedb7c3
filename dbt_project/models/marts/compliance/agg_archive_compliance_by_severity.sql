with

archive_times as (

    select * from {{ ref('fct_finding_archive_times') }}

),

-- every label appears, even with no findings, so a report can state "0 open past target"
severity_labels as (

    select 'Critical' as severity_label, 1 as severity_order
    union all
    select 'High', 2
    union all
    select 'Medium', 3
    union all
    select 'Low', 4

),

aggregated as (

    select
        severity_label,
        count(*) as finding_count,
        count(case when first_archived_at is not null then 1 end) as archived_count,
        count(case when is_within_target then 1 end) as archived_within_target_count,
        count(case when is_currently_archived then 1 end) as currently_archived_count,
        count(case when was_unarchived then 1 end) as unarchived_count,
        count(case when is_open_past_target then 1 end) as open_past_target_count,
        {{ median_of('hours_to_archive') }} as median_hours_to_archive,
        avg(hours_to_archive) as avg_hours_to_archive,
        max(hours_to_archive) as max_hours_to_archive,
        max(evaluated_at) as evaluated_at
    from archive_times
    group by severity_label

),

final as (

    select
        severity_labels.severity_label,
        severity_labels.severity_order,
        ({{ archive_target_days('severity_labels.severity_label') }}) * 24 as target_hours,
        cast(coalesce(aggregated.finding_count, 0) as bigint) as finding_count,
        cast(coalesce(aggregated.archived_count, 0) as bigint) as archived_count,
        cast(coalesce(aggregated.archived_within_target_count, 0) as bigint)
            as archived_within_target_count,
        case
            when aggregated.finding_count > 0
                then cast(aggregated.archived_within_target_count as double)
                / aggregated.finding_count
        end as share_archived_within_target,
        cast(coalesce(aggregated.currently_archived_count, 0) as bigint)
            as currently_archived_count,
        cast(coalesce(aggregated.unarchived_count, 0) as bigint) as unarchived_count,
        cast(coalesce(aggregated.open_past_target_count, 0) as bigint) as open_past_target_count,
        aggregated.median_hours_to_archive,
        aggregated.avg_hours_to_archive,
        aggregated.max_hours_to_archive,
        aggregated.evaluated_at
    from severity_labels
    left join aggregated
        on severity_labels.severity_label = aggregated.severity_label

)

select * from final
