with

lake_quarantine as (

    {{ committed_lake_rows('quarantine') }}

),

renamed as (

    select
        source_uri,
        line_number,
        record_index,
        reason,
        excerpt,
        object_size,
        ingest_batch_id,
        cast(quarantined_at as {{ utc_timestamp_type() }}) as quarantined_at,
        cast(quarantined_date as date) as quarantined_date
    from lake_quarantine

)

select * from renamed
