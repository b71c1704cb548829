"""Declaring and reading one setting: its type from text or TOML, and the error that names it.

`bridge.config` declares the settings with `_setting` and the checks below (a section in
a module of its own uses the same); this module turns a raw value (a TOML value or an
environment string) into the field's type, or raises `InvalidSetting` naming the key and
where the value came from, never echoing a value that looks like a credential.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from dataclasses import field
from typing import Any

from ._redact import looks_secret, redact_url
from ._secret import Secret
from .protocol.errors import ConfigError

__all__ = ["InvalidSetting"]


class InvalidSetting(ConfigError):
    """A configuration value is missing, malformed or out of range.

    `key` names it (`section.key`, or the file or section at fault) and `source` says where
    it came from (a file path or `$VARIABLE`); the value itself is shown only when it is
    not a secret.
    """

    def __init__(self, key: str, message: str, source: str = "") -> None:
        self.key = key
        self.source = source
        where = f" (from {source})" if source else ""
        super().__init__(f"{key}: {message}{where}")


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _convert(key: str, hint: Any, value: Any, source: str) -> Any:
    """Coerce a TOML value or an environment string to the field's type."""
    optional = False
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(args) < len(typing.get_args(hint))
        hint = args[0]
    if optional and (value is None or value == ""):
        return None
    from_env = isinstance(value, str) and source.startswith("$")
    if hint is Secret:
        if not isinstance(value, str) or not value:
            raise InvalidSetting(key, "must be a non-empty string", source)
        return Secret(value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if from_env and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        raise InvalidSetting(key, f"must be true or false, got {_shown(value)}", source)
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if from_env:
            try:
                return int(value)
            except ValueError:
                pass
        raise InvalidSetting(key, f"must be an integer, got {_shown(value)}", source)
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if from_env:
            try:
                return float(value)
            except ValueError:
                pass
        raise InvalidSetting(key, f"must be a number, got {_shown(value)}", source)
    if hint is str:
        if isinstance(value, str):
            return value
        raise InvalidSetting(key, f"must be a string, got {_shown(value)}", source)
    if typing.get_origin(hint) is tuple:
        # A TOML list, or a comma-separated environment value; entries kept as text.
        items = [item.strip() for item in value.split(",") if item.strip()] if from_env else value
        if isinstance(items, list) and all(
            isinstance(item, (str, int)) and not isinstance(item, bool) for item in items
        ):
            return tuple(str(item) for item in items)
        raise InvalidSetting(key, f"must be a list of names or ids, got {_shown(value)}", source)
    raise TypeError(f"{key}: unsupported field type {hint!r}")


def _shown(value: Any) -> str:
    """A bad value as an error shows it, unless it looks like a credential put in the
    wrong setting: that is named by its length only."""
    text = repr(value)
    if looks_secret(text):
        return f"a {len(str(value))}-character value (not shown: it looks like a credential)"
    return text if len(text) <= 40 else text[:37] + "..."


Check = Callable[[Any], str | None]


def _setting(default: Any, check: Check | None = None, doc: str = "") -> Any:
    """A dataclass field with a validator returning an error message or None."""
    if isinstance(default, (list, dict)):
        raise TypeError("use tuples for defaults")
    return field(default=default, metadata={"check": check, "doc": doc})


def _one_of(*allowed: object) -> Check:
    def check(value: object) -> str | None:
        return None if value in allowed else f"must be one of {list(allowed)}, got {_shown(value)}"

    return check


def _range(low: float, high: float) -> Check:
    def check(value: float) -> str | None:
        return None if low <= value <= high else f"must be in [{low}, {high}], got {value!r}"

    return check


def _nonempty(value: str) -> str | None:
    return None if value.strip() else "must not be empty"


def _url(value: str) -> str | None:
    if value.startswith(("ws://", "wss://")):
        return None
    return f"must start with ws:// or wss://, got {redact_url(value)!r}"
