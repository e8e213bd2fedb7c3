with

observations as (

    select * from {{ ref('stg_guardduty__finding_observations') }}

),

-- the archived state of a finding at each time it was observed; of copies observed at the same
-- time the archived one holds (as in copy_order)
states as (

    select
        finding_id,
        observed_at,
        max(case when is_archived then 1 else 0 end) = 1 as is_archived
    from observations
    group by finding_id, observed_at

),

sequenced as (

    select
        *,
        lag(is_archived) over (partition by finding_id order by observed_at)
            as previous_is_archived
    from states

),

-- a finding starts unarchived: its first observation is a transition only when archived
transitions as (

    select
        finding_id,
        case when is_archived then 'archived' else 'unarchived' end as transition,
        is_archived,
        observed_at,
        row_number() over (partition by finding_id order by observed_at) as transition_number
    from sequenced
    where is_archived <> coalesce(previous_is_archived, false)

),

final as (

    select
        {{ dbt.hash("finding_id || '|' || cast(transition_number as varchar)") }}
            as finding_transition_id,
        finding_id,
        transition_number,
        transition,
        is_archived,
        observed_at
    from transitions

)

select * from final
