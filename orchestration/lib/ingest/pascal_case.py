"""boto3/CLI (PascalCase) findings in the API's camelCase wire names, through the botocore model."""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def _guardduty_model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("guardduty")


def pascal_to_camel(finding: dict[str, Any]) -> dict[str, Any]:
    """Convert a boto3/CLI (PascalCase) finding to the API's camelCase wire names.

    Member names map to their ``locationName`` in the botocore GuardDuty model (so
    ``SourceIps`` becomes ``sourceIPs``); keys the model does not know get a lower-case first
    letter.
    """
    return _convert(finding, _guardduty_model().shape_for("Finding"))


def _convert(value: Any, shape: Any) -> Any:
    type_name = getattr(shape, "type_name", None)
    if isinstance(value, dict):
        if type_name == "structure":
            converted = {}
            for key, item in value.items():
                member = shape.members.get(key)
                if member is not None:
                    converted[member.serialization.get("name", _lower_first(key))] = _convert(
                        item, member
                    )
                else:
                    converted[_lower_first(key)] = _convert(item, None)
            return converted
        if type_name == "map":
            return {key: _convert(item, shape.value) for key, item in value.items()}
        return {_lower_first(key): _convert(item, None) for key, item in value.items()}
    if isinstance(value, list):
        member = shape.member if type_name == "list" else None
        return [_convert(item, member) for item in value]
    return value


def _lower_first(key: str) -> str:
    return key[:1].lower() + key[1:]
