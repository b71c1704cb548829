"""A string that never shows itself in reprs, logs, exceptions or f-strings."""

from __future__ import annotations

from typing import Final

_MASK: Final = "***"


class Secret:
    """Holds an API key, token or session string; only `reveal()` gives the value back.

    `str()`, `repr()` and `format()` all print a mask, so a secret that ends up in a log
    line, an exception message or a dataclass repr does not leak.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"Secret expects a str, got {type(value).__name__}")
        self._value = value

    def reveal(self) -> str:
        """The secret value itself. Pass it only to the place that needs it."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return f"Secret({_MASK!r})"

    def __str__(self) -> str:
        return _MASK

    def __format__(self, spec: str) -> str:
        return _MASK

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("Secret values are not picklable")
