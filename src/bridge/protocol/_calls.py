"""Function calls: parsing `toolCall` and assembling calls that stream in pieces.

A streamed call arrives as several `functionCalls[]` entries sharing one `id`: every piece
but the last has `willContinue: true`, the arguments come as `partialArgs`
(`[{jsonPath, stringValue|numberValue|boolValue|nullValue}]`), and a continuation may
carry no `name`. `CallAssembler` joins them per id and hands out each finished call once.
It is bounded: a server that opens calls it never finishes cannot grow it without limit.
"""

from __future__ import annotations

from typing import Any

from ._events import FunctionCall, PartialArg, ServerEvent, ToolCall
from .errors import ProtocolError

__all__ = ["CallAssembler", "parse_tool_call"]

MAX_OPEN_CALLS = 64
"""Streamed calls still being assembled; the oldest is given up beyond this."""
MAX_ARG_CHARS = 1 << 20
"""Text collected for one streamed call's arguments (1 Mi characters)."""
MAX_PARSED_CALLS = 10_000
"""Calls in one `toolCall` message; more is refused as a whole (the model asks for a few)."""
_MAX_INDEX = 1024
_PLAIN_KEYS = frozenset(("id", "name", "args"))
_VALUE_KEYS = (
    ("stringValue", "string_value", str),
    ("numberValue", "number_value", (int, float)),
    ("boolValue", "bool_value", bool),
)


def _field(obj: dict[str, Any], camel: str, snake: str) -> Any:
    value = obj.get(camel)
    return obj.get(snake) if value is None else value


def _flag(value: Any, where: str) -> bool:
    if value is None or type(value) is bool:
        return bool(value)
    raise ProtocolError(f"{where}: expected true or false, got {value!r:.40}")


def _partial_arg(raw: Any, where: str) -> PartialArg:
    if not isinstance(raw, dict):
        raise ProtocolError(f"{where}: expected an object, got {type(raw).__name__}")
    path = _field(raw, "jsonPath", "json_path")
    if not isinstance(path, str):
        raise ProtocolError(f"{where}.jsonPath: expected text, got {path!r:.40}")
    value: str | float | bool | None = None
    for camel, snake, kind in _VALUE_KEYS:
        found = _field(raw, camel, snake)
        if found is not None:
            if not isinstance(found, kind) or (kind is not bool and type(found) is bool):
                raise ProtocolError(f"{where}.{camel}: wrong type {type(found).__name__}")
            value = found
            break
    will_continue = _flag(_field(raw, "willContinue", "will_continue"), f"{where}.willContinue")
    return PartialArg(path, value, will_continue)


def _function_call(call: Any) -> FunctionCall:
    if type(call) is dict and call.keys() <= _PLAIN_KEYS:
        # The usual call: {id, name, args}, checked without building any message text.
        call_id, name, args = call.get("id"), call.get("name"), call.get("args")
        if type(call_id) is str and type(name) is str and name:
            if args is None:
                return FunctionCall(call_id, name, {})
            if type(args) is dict:
                return FunctionCall(call_id, name, args)
    if not isinstance(call, dict):
        raise ProtocolError(f"toolCall.functionCalls[]: expected an object, got {call!r:.40}")
    call_id, name, args = call.get("id"), call.get("name"), call.get("args")
    name = "" if name is None else name
    if not isinstance(name, str):
        raise ProtocolError(f"toolCall.functionCalls[].name: expected text, got {name!r:.40}")
    where = f"toolCall.functionCalls[{name or '?'}]"
    if call_id is None:
        call_id = ""
    elif not isinstance(call_id, str):
        raise ProtocolError(f"{where}.id: expected text, got {call_id!r:.40}")
    if args is None:
        args = {}
    elif not isinstance(args, dict):
        raise ProtocolError(f"{where}.args: expected an object, got {type(args).__name__}")
    partial = _field(call, "partialArgs", "partial_args")
    if partial is None:
        partial = ()
    elif not isinstance(partial, list):
        raise ProtocolError(f"{where}.partialArgs: expected a list")
    will_continue = _flag(_field(call, "willContinue", "will_continue"), f"{where}.willContinue")
    if not name and not call_id:
        raise ProtocolError(f"{where}: a call needs a name or an id")
    return FunctionCall(
        call_id,
        name,
        args,
        will_continue,
        tuple(_partial_arg(p, f"{where}.partialArgs[]") for p in partial),
    )


def parse_tool_call(value: Any, out: list[ServerEvent]) -> None:
    """Append the `ToolCall` of a `toolCall` value (raises `ProtocolError`)."""
    if not isinstance(value, dict):
        raise ProtocolError(f"toolCall: expected an object, got {type(value).__name__}")
    calls = _field(value, "functionCalls", "function_calls")
    if calls is None:
        calls = []
    elif not isinstance(calls, list):
        raise ProtocolError("toolCall.functionCalls: expected a list")
    if len(calls) > MAX_PARSED_CALLS:
        raise ProtocolError(
            f"toolCall: {len(calls)} calls in one message (at most {MAX_PARSED_CALLS})"
        )
    out.append(ToolCall(tuple(_function_call(call) for call in calls)))


def _set(args: dict[str, Any], path: str, value: Any) -> None:
    """Put `value` at a JSON path such as "$.a.b" or "$.items[2]"; text at a path that
    already holds text is appended (strings stream in pieces)."""
    steps: list[str | int] = []
    for name in path.removeprefix("$").split("."):
        head, _, rest = name.partition("[")
        if head:
            steps.append(head)
        for index in rest.split("[") if rest else ():
            steps.append(int(index.rstrip("]")))
            if not 0 <= int(steps[-1]) < _MAX_INDEX:
                raise ValueError(f"index {steps[-1]} out of 0..{_MAX_INDEX - 1}")
    if not steps:
        raise ValueError("an empty path")
    node: Any = args
    for step, following in zip(steps, [*steps[1:], None], strict=True):
        if following is None:
            break
        empty: Any = [] if isinstance(following, int) else {}
        if isinstance(node, list):
            node.extend([None] * (int(step) + 1 - len(node)))
            node[int(step)] = node[int(step)] if node[int(step)] is not None else empty
            node = node[int(step)]
        else:
            node = node.setdefault(step, empty)
    last = steps[-1]
    if isinstance(node, list):
        node.extend([None] * (int(last) + 1 - len(node)))
        old = node[int(last)]
    else:
        old = node.get(last)
    if isinstance(old, str) and isinstance(value, str):
        value = old + value
    node[last] = value


class CallAssembler:
    """Joins streamed function calls per id; `feed` returns each finished call once.

    ```python
    for call in tool_call.calls:
        finished = assembler.feed(call)   # None while the call is still streaming
    ```
    Raises `ProtocolError` for a piece it cannot use (an unusable path, a call with no
    id, arguments over `MAX_ARG_CHARS`); the call's pieces so far are then dropped.
    """

    def __init__(self) -> None:
        self._open: dict[str, tuple[str, dict[str, Any], int]] = {}

    def __len__(self) -> int:
        return len(self._open)

    def feed(self, call: FunctionCall) -> FunctionCall | None:
        """Take one piece; the whole call once its last piece arrived, else None."""
        if not call.will_continue and not call.partial_args and call.id not in self._open:
            return call  # the usual, unstreamed call: no copying
        name, args, size = self._open.pop(call.id, ("", {}, 0))
        if not call.id:
            raise ProtocolError(f"streamed call {call.name!r}: it has no id to join on")
        name = call.name or name
        args.update(call.args)
        for piece in call.partial_args:
            size += len(piece.json_path) + len(str(piece.value))
            if size > MAX_ARG_CHARS:
                raise ProtocolError(f"streamed call {call.id!r}: arguments over {MAX_ARG_CHARS}")
            try:
                _set(args, piece.json_path, piece.value)
            except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
                raise ProtocolError(
                    f"streamed call {call.id!r}: unusable jsonPath {piece.json_path!r:.60} ({exc})"
                ) from None
        if call.will_continue:
            if len(self._open) >= MAX_OPEN_CALLS:
                self._open.pop(next(iter(self._open)))
            self._open[call.id] = (name, args, size)
            return None
        if not name:
            raise ProtocolError(f"streamed call {call.id!r}: finished without a name")
        return FunctionCall(call.id, name, args)

    def clear(self) -> None:
        """Forget calls in progress (their connection ended)."""
        self._open.clear()
