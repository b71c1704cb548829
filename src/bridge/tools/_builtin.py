"""Built-in tools: the current time anywhere, and exact arithmetic.

Both are things a speech model gets wrong on its own (it has no clock and guesses sums).
"""

from __future__ import annotations

import ast
import datetime as dt
import math
import operator
import zoneinfo
from collections.abc import Callable
from typing import Any

from ._registry import ToolRegistry

BRIDGE_TOOL_NAMES = frozenset({"current_time", "calculate", "list_participants", "post_message"})
"""Every tool the bridge itself offers in some mode (the last two in Telegram chats only)."""

_MAX_EXPRESSION_CHARS = 200
_MAX_EXPONENT = 1000
# Integers stay exact but bounded: a tool runs on the event loop, and one huge power
# (9**100**100...) would stall every session in the process while it computes.
_MAX_INT_BITS = 4096
_LIMITS = (
    f"exponents from -{_MAX_EXPONENT} to {_MAX_EXPONENT}; integers up to {_MAX_INT_BITS} bits; "
    "results must be finite real numbers"
)


async def current_time(timezone: str = "UTC") -> dict[str, Any]:
    """The current date and time in an IANA time zone such as 'Europe/Berlin'."""
    try:
        zone = zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {timezone!r}") from None
    now = dt.datetime.now(zone)
    return {
        "timezone": timezone,
        "iso": now.isoformat(timespec="seconds"),
        "weekday": now.strftime("%A"),
        "time": now.strftime("%H:%M"),
    }


_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type, Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}


def _evaluate(node: ast.AST) -> float | int:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        if isinstance(node.value, bool):
            raise ValueError("booleans are not numbers here")
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow):
            if abs(right) > _MAX_EXPONENT:
                raise ValueError(f"exponent {right} is too large (limit ±{_MAX_EXPONENT})")
            # |left| >= 2**bits, so left**right has more than bits*right bits: refuse that
            # before computing; what passes is at most ~1000 bits over, checked exactly after.
            left_bits = abs(left).bit_length() - 1 if isinstance(left, int) and left else 0
            if isinstance(right, int) and right > 0 and left_bits * right >= _MAX_INT_BITS:
                raise ValueError(f"result of {left} ** {right} is too large")
        return _bounded(_BINARY[type(node.op)](left, right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _bounded(_UNARY[type(node.op)](_evaluate(node.operand)))
    raise ValueError(f"unsupported element {type(node).__name__}: only numbers and + - * / // % **")


def _bounded(value: Any) -> float | int:
    if isinstance(value, int):
        if value.bit_length() > _MAX_INT_BITS:
            raise ValueError(f"intermediate result exceeds {_MAX_INT_BITS} bits")
        return value
    if isinstance(value, complex):  # (-8) ** 0.5
        raise ValueError("the result is not a real number")
    if not math.isfinite(value):  # 1e308 * 10, or inf - inf
        raise ValueError("the result is not a finite number")
    return value  # type: ignore[no-any-return]


async def calculate(expression: str) -> dict[str, Any]:
    """Evaluate an arithmetic expression exactly, e.g. '17 * 23 + 4'.

    Limits: exponents from -1000 to 1000; integers up to 4096 bits; results must be
    finite real numbers. Anything else raises `ValueError` naming the problem.
    """
    if len(expression) > _MAX_EXPRESSION_CHARS:
        raise ValueError(f"expression longer than {_MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError:
        raise ValueError(f"not an arithmetic expression: {expression!r}") from None
    try:
        value: float | int | str = _evaluate(tree)
    except (OverflowError, ZeroDivisionError) as exc:
        raise ValueError(f"{expression!r}: {exc}") from None
    if isinstance(value, int) and not -(2**63) <= value < 2**64:
        value = str(value)  # exact, where a JSON number would overflow 64 bits
    return {"expression": expression, "value": value}


def builtin_tools() -> ToolRegistry:
    """A registry holding the built-in tools `current_time` and `calculate`."""
    tools = ToolRegistry()
    tools.register(
        "current_time",
        current_time,
        description="Get the current date, weekday and time in an IANA time zone.",
        parameters={
            "type": "object",
            "properties": {
                "timezone": {
                    "type": "string",
                    "description": "IANA time zone, e.g. 'Europe/Berlin'; default UTC",
                }
            },
        },
        timeout_s=2.0,
        behavior="BLOCKING",  # quick, and the answer is the reply
    )
    tools.register(
        "calculate",
        calculate,
        description=f"Evaluate an arithmetic expression exactly (+ - * / // % **); {_LIMITS}.",
        parameters={
            "type": "object",
            "properties": {"expression": {"type": "string", "description": "e.g. '17*23+4'"}},
            "required": ["expression"],
        },
        timeout_s=2.0,
        behavior="BLOCKING",
    )
    return tools
