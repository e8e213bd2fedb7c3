from orchestration.lib.environment import load_audit_settings, load_settings


def settings_resources() -> dict:
    """The ``settings`` and ``audit_settings`` resources, read from the test's environment."""
    settings = load_settings()
    return {"settings": settings, "audit_settings": load_audit_settings(settings)}
