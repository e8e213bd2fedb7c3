{{ daily_findings_by('resource_type') }}
