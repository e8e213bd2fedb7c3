{{ daily_findings_by('action_type') }}
