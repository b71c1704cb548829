"""The JSON-schema subset Gemini function declarations use, and a validator for it.

Supported: `type` (object, string, integer, number, boolean, array), `properties`,
`required`, `items`, `enum`, `description`, `minimum`/`maximum`. Enough to reject the
arguments a model gets wrong before a tool sees them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_TYPES = {"object", "string", "integer", "number", "boolean", "array"}
_KEYS = {
    "type", "properties", "required", "items", "enum", "description",
    "minimum", "maximum", "format", "nullable",
}  # fmt: skip


class SchemaError(ValueError):
    """A schema or a value does not fit; the message names the path."""


def check_schema(schema: Mapping[str, Any], path: str = "parameters") -> None:
    """Raise `SchemaError` if `schema` uses anything outside the supported subset."""
    if not isinstance(schema, Mapping):
        raise SchemaError(f"{path}: must be an object")
    unknown = set(schema) - _KEYS
    if unknown:
        raise SchemaError(f"{path}: unsupported keys {sorted(unknown)}")
    kind = schema.get("type")
    if kind not in _TYPES:
        raise SchemaError(f"{path}.type: must be one of {sorted(_TYPES)}, got {kind!r}")
    if kind == "object":
        properties = schema.get("properties", {})
        if not isinstance(properties, Mapping):
            raise SchemaError(f"{path}.properties: must be an object")
        for name, sub in properties.items():
            check_schema(sub, f"{path}.properties.{name}")
        for name in schema.get("required", ()):
            if name not in properties:
                raise SchemaError(f"{path}.required: {name!r} is not in properties")
    if kind == "array":
        if "items" not in schema:
            raise SchemaError(f"{path}.items: required for arrays")
        check_schema(schema["items"], f"{path}.items")


def validate(schema: Mapping[str, Any], value: Any, path: str) -> None:
    """Raise `SchemaError` naming the first place where `value` does not fit `schema`."""
    if value is None and schema.get("nullable"):
        return
    kind = schema["type"]
    ok = {
        "object": isinstance(value, dict),
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, (int, float)) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "array": isinstance(value, list),
    }[kind]
    if not ok:
        raise SchemaError(f"{path}: expected {kind}, got {type(value).__name__}")
    if "enum" in schema and value not in schema["enum"]:
        raise SchemaError(f"{path}: must be one of {schema['enum']}, got {value!r}")
    if kind in ("integer", "number"):
        if "minimum" in schema and value < schema["minimum"]:
            raise SchemaError(f"{path}: must be >= {schema['minimum']}, got {value}")
        if "maximum" in schema and value > schema["maximum"]:
            raise SchemaError(f"{path}: must be <= {schema['maximum']}, got {value}")
    if kind == "object":
        properties = schema.get("properties", {})
        for name in schema.get("required", ()):
            if name not in value:
                raise SchemaError(f"{path}.{name}: required")
        for name, item in value.items():
            if name not in properties:
                raise SchemaError(f"{path}.{name}: unexpected argument")
            validate(properties[name], item, f"{path}.{name}")
    if kind == "array":
        for i, item in enumerate(value):
            validate(schema["items"], item, f"{path}[{i}]")
