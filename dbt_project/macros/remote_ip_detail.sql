{#
    A RemoteIpDetails field (`path`, e.g. '.country.countryName') of the first action of the
    finding that has a single remote endpoint: networkConnection, awsApiCall, kubernetesApiCall,
    rdsLoginAttempt (docs/data-contract.md §3, remote endpoints). Empty strings count as missing.
#}
{% macro remote_ip_detail(json, path) -%}
    {%- set parents = [
        'networkConnectionAction',
        'awsApiCallAction',
        'kubernetesApiCallAction',
        'rdsLoginAttemptAction',
    ] -%}
    coalesce(
        {%- for parent in parents %}
        {{ clean_text(json_text(json, '$.service.action.' ~ parent ~ '.remoteIpDetails' ~ path)) }}
        {{- ',' if not loop.last }}
        {%- endfor %}
    )
{%- endmacro %}
