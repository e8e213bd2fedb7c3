{# The placeholder ASNs '-1' and '0' (no autonomous system known) are left out. #}
{%- set finding_asns -%}
    select
        finding_id,
        asn,
        max(asn_org) as asn_org
    from endpoints
    where asn is not null and asn not in ('-1', '0')
    group by finding_id, asn
{%- endset -%}
{{ first_seen_remote(['asn'], finding_asns, labels=['asn_org']) }}
