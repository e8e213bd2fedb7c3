{#
    Copies of a finding version (data-contract.md §3). A version is (id, updatedAt, service.count);
    the lake holds every copy read: exact re-deliveries, and copies that differ, such as the S3
    export's (never archived) and the API backfill's (archived) of one version.
#}

{# The version a lake row is a copy of: a hash of (finding_id, updated_at, event_count). #}
{% macro finding_version_id() -%}
    {{ dbt.hash(
        "finding_id || '|' || cast(updated_at as varchar) || '|'"
        ~ " || coalesce(cast(event_count as varchar), '')"
    ) }}
{%- endmacro %}

{#
    When a copy was observed: the time its source gives (the EventBridge envelope's `time`, the
    capture time of an API backfill page, the export object's LastModified), else, for rows written
    before the lake recorded it, when it was ingested: the latest time it is known to have existed.
#}
{% macro copy_observed_at() -%}
    coalesce(observed_at, ingested_at)
{%- endmacro %}

{# service.archived of a copy; absent means not archived. #}
{% macro copy_is_archived(finding_json) -%}
    coalesce({{ parse_boolean(json_text(finding_json, '$.service.archived')) }}, false)
{%- endmacro %}

{#
    Order of the copies of one version, the one that holds first: the latest observed (so the
    latest observation gives the version's archived state), then, observed at the same time, the
    archived one (the export never carries an archive), then by content, so that a rebuild from the
    same raw objects picks the same copy whatever their keys or ingest order. Copies identical in
    content differ only in lineage, ordered last.
#}
{% macro copy_order() -%}
    observed_at desc, is_archived_copy desc, finding_json desc, source_uri desc,
    line_number desc nulls last
{%- endmacro %}
