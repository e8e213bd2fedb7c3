{{ config(materialized='incremental', incremental_strategy='append') }}
-- depends_on: {{ ref('int_findings_current') }}
{#
    The lake batches the incremental models have processed (macros/lake_batches.sql). Built after
    them in the same dbt invocation, from the same pinned ledger, so it records exactly the
    batches they selected; a run that fails before this model leaves them to be processed again,
    which the models' unique keys make harmless.
#}

select distinct
    ledger.ingest_batch_id,
    cast(ledger.ingested_at as {{ utc_timestamp_type() }}) as ingested_at
from {{ source('guardduty_lake', 'ingest_ledger') }} as ledger
where ledger.status = 'ingested'
{%- if is_incremental() %}
    and ledger.ingest_batch_id {{ new_lake_batch_range() }}
    and ledger.ingest_batch_id not in (select ingest_batch_id from {{ this }})
{%- endif %}
