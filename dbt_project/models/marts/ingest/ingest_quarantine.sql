with

quarantined as (

    select * from {{ ref('stg_guardduty__quarantine') }}

),

-- an object quarantined again by a later batch is still one bad object (or line)
latest as (

    select * from (
        select
            *,
            row_number() over (
                partition by source_uri, line_number
                order by quarantined_at desc, ingest_batch_id desc
            ) as quarantine_rank
        from quarantined
    ) as ranked
    where quarantine_rank = 1

),

final as (

    select
        {{ dbt.hash("source_uri || '|' || coalesce(cast(line_number as varchar), '')") }}
            as quarantine_id,
        source_uri,
        line_number,
        reason,
        excerpt,
        object_size,
        ingest_batch_id,
        quarantined_at,
        quarantined_date
    from latest

)

select * from final
