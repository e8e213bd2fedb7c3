with

archive_times as (

    select * from {{ ref('fct_finding_archive_times') }}

),

open_past_target as (

    select
        -- ids
        finding_id,
        account_id,
        region,

        -- classification
        finding_type,
        title,
        severity,
        severity_label,

        -- ages
        age_hours,
        target_hours,
        age_hours - target_hours as hours_past_target,
        was_unarchived,

        -- timestamps
        created_at,
        updated_at,
        evaluated_at
    from archive_times
    where is_open_past_target

)

select * from open_past_target
