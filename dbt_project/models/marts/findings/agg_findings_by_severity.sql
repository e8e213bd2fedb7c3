{{ daily_findings_by('severity_label') }}
