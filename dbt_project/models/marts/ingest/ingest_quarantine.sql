with

quarantined as (

    select * from {{ ref('stg_guardduty__quarantine') }}

),

-- a record (object, line or array element) quarantined again by a later batch is still one bad
-- record: its latest reason holds
latest as (

    select * from (
        select
            *,
            row_number() over (
                partition by source_uri, line_number, record_index
                order by quarantined_at desc, ingest_batch_id desc
            ) as quarantine_rank
        from quarantined
    ) as ranked
    where quarantine_rank = 1

),

final as (

    select
        {{ dbt.hash(
            "source_uri || '|' || coalesce(cast(line_number as varchar), '')"
            ~ " || '|' || coalesce(cast(record_index as varchar), '')"
        ) }} as quarantine_id,
        source_uri,
        line_number,
        record_index,
        reason,
        excerpt,
        object_size,
        ingest_batch_id,
        quarantined_at,
        quarantined_date
    from latest

)

select * from final
