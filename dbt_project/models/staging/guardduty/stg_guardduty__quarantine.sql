-- depends_on: {{ source('guardduty_lake', 'quarantine') }}
with

lake_quarantine as (

    select * from {{ lake_source('quarantine') }}

),

renamed as (

    select
        source_uri,
        line_number,
        reason,
        excerpt,
        object_size,
        ingest_batch_id,
        cast(quarantined_at as {{ utc_timestamp_type() }}) as quarantined_at,
        cast(quarantined_date as date) as quarantined_date
    from lake_quarantine

)

select * from renamed
