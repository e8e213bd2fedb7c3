{# Unlocated endpoints (no country) are left out. #}
{{ first_seen_remote(['country_code', 'country_name'], finding_countries('endpoints')) }}
