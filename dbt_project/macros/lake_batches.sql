{#
    Reading the lake's ingest batches (see the `guardduty_lake` source).

    A findings or quarantine row is committed, and may be read, only when the ledger holds its
    (ingest_batch_id, source_uri): the ingest commits a batch's ledger rows after its data rows.
    Incremental models process the ledger batches not yet recorded in int_lake_batches_processed:
    a set difference, never a time watermark, so a batch that commits late (two ingest runs at
    once) is never skipped.
#}

{% macro committed_in_lake(alias) -%}
    exists (
        select 1
        from {{ source('guardduty_lake', 'ingest_ledger') }} as ledger
        where ledger.ingest_batch_id = {{ alias }}.ingest_batch_id
            and ledger.source_uri = {{ alias }}.source_uri
    )
{%- endmacro %}

{% macro new_lake_batches() -%}
    select ledger.ingest_batch_id
    from {{ source('guardduty_lake', 'ingest_ledger') }} as ledger
    where ledger.status = 'ingested'
        and ledger.ingest_batch_id not in ({{ processed_lake_batches() }})
{%- endmacro %}

{#- Read without a ref: the record is written after the models that read it (see the model). -#}
{% macro processed_lake_batches() -%}
    {%- set processed = adapter.get_relation(
        database=this.database, schema=this.schema, identifier='int_lake_batches_processed'
    ) -%}
    {%- if processed is none -%}
        select cast(null as varchar) as ingest_batch_id where false
    {%- else -%}
        select ingest_batch_id from {{ processed }}
    {%- endif -%}
{%- endmacro %}
