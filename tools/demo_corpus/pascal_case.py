"""The boto3 / AWS CLI (PascalCase) shape of a finding, named by the botocore GuardDuty model."""

from __future__ import annotations

from functools import cache
from typing import Any

import orjson


@cache
def _guardduty_model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("guardduty")


@cache
def _member_names(shape_name: str) -> dict[str, tuple[str, Any]]:
    """camelCase wire name -> (PascalCase member name, member shape) of a structure shape."""
    shape = _guardduty_model().shape_for(shape_name)
    return {
        member.serialization.get("name", name): (name, member)
        for name, member in shape.members.items()
    }


def _upper_first(key: str) -> str:
    return key[:1].upper() + key[1:]


def _convert(value: Any, shape: Any) -> Any:
    if isinstance(value, list):
        member = shape.member if shape is not None and shape.type_name == "list" else None
        return [_convert(item, member) for item in value]
    if not isinstance(value, dict):
        return value
    if shape is not None and shape.type_name == "map":
        return {key: _convert(item, shape.value) for key, item in value.items()}
    if shape is not None and shape.name == "ServiceAdditionalInfo":
        return _additional_info_pascal(value)
    members = (
        _member_names(shape.name) if shape is not None and shape.type_name == "structure" else {}
    )
    converted = {}
    for key, item in value.items():
        name, member = members.get(key, (_upper_first(key), None))
        converted[name] = _convert(item, member)
    return converted


def _additional_info_pascal(info: dict[str, Any]) -> dict[str, str]:
    if isinstance(info.get("value"), str):
        serialized = info["value"]
    else:
        rest = {key: item for key, item in info.items() if key not in ("type", "value")}
        serialized = orjson.dumps(rest).decode()
    return {"Type": info.get("type", "default"), "Value": serialized}


def to_pascal_case(finding: dict[str, Any]) -> dict[str, Any]:
    """Convert a camelCase finding to the boto3 / AWS CLI shape.

    Member names come from the botocore GuardDuty service model (``sourceIPs`` becomes
    ``SourceIps``); keys unknown to the model get an upper-case first letter; map keys (such as
    ``affectedResources``) are kept. ``service.additionalInfo`` becomes
    ``{"Type": ..., "Value": "<json string>"}``.

    Args:
        finding: The camelCase finding.

    Returns:
        A new dict; the input is not modified.
    """
    return _convert(finding, _guardduty_model().shape_for("Finding"))
