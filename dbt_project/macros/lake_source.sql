{#
    The lake table behind a `guardduty_lake` source. On DuckDB the source is a read_parquet() over
    the table's folder, which fails when the folder has no files yet (a lake with no quarantined
    object has no quarantine folder at all): then an empty relation of the lake's column types is
    returned instead. Athena reads the Glue table, which is simply empty.
#}
{% macro lake_source(table_name) -%}
    {{ return(adapter.dispatch('lake_source', 'guardduty')(table_name)) }}
{%- endmacro %}

{% macro default__lake_source(table_name) -%}
    {{ return(source('guardduty_lake', table_name)) }}
{%- endmacro %}

{% macro duckdb__lake_source(table_name) -%}
    {%- set relation = source('guardduty_lake', table_name) -%}
    {%- set match = modules.re.search("read_parquet\('([^']+)'", relation | string) -%}
    {%- if execute and match -%}
        {%- set files = run_query("select count(*) from glob('" ~ match.group(1) ~ "')") -%}
        {%- if files.columns[0].values()[0] == 0 -%}
            {{ return('(' ~ empty_lake_table(table_name) ~ ')') }}
        {%- endif -%}
    {%- endif -%}
    {{ return(relation) }}
{%- endmacro %}

{% macro empty_lake_table(table_name) -%}
    {%- set columns = {
        'findings': [
            ('finding_id', 'varchar'), ('account_id', 'varchar'), ('region', 'varchar'),
            ('finding_type', 'varchar'), ('severity', 'double'), ('created_at', 'timestamp'),
            ('updated_at', 'timestamp'), ('event_count', 'bigint'), ('finding_json', 'varchar'),
            ('source_uri', 'varchar'), ('line_number', 'bigint'), ('ingest_batch_id', 'varchar'),
            ('ingested_at', 'timestamp'), ('updated_date', 'date'),
        ],
        'quarantine': [
            ('source_uri', 'varchar'), ('line_number', 'bigint'), ('reason', 'varchar'),
            ('excerpt', 'varchar'), ('object_size', 'bigint'), ('ingest_batch_id', 'varchar'),
            ('quarantined_at', 'timestamp'), ('quarantined_date', 'date'),
        ],
    }[table_name] -%}
    select
    {%- for name, data_type in columns %}
        cast(null as {{ data_type }}) as {{ name }}{{ ',' if not loop.last }}
    {%- endfor %}
    where false
{%- endmacro %}
