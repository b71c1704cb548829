"""A registry of async Python callables the model may call, declared with JSON schema.

Each tool may say how the model treats a call (`behavior`, on its declaration):
BLOCKING (the model waits for the result, silent meanwhile) or NON_BLOCKING (it goes on
talking and listening while the call runs); None leaves the model's default. A
NON_BLOCKING tool's result carries a `scheduling`: SILENT (the model takes it in without
saying anything), WHEN_IDLE (it speaks about it once the current reply is over) or
INTERRUPT (it cuts the current reply to speak about it); the names are google-genai's
(`types.Behavior`, `types.FunctionResponseScheduling`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..protocol import Behavior, Scheduling
from ..protocol._config import BEHAVIORS
from ..protocol._events import SCHEDULINGS
from ._schema import SchemaError, check_schema, validate

ToolHandler = Callable[..., Awaitable[Any]]

NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")


class ToolError(Exception):
    """A tool could not be registered or called; the message says why."""


@dataclass(frozen=True, slots=True)
class Tool:
    """One callable tool: its declaration and the coroutine function that runs it."""

    name: str
    description: str
    parameters: Mapping[str, Any]
    handler: ToolHandler
    timeout_s: float
    behavior: Behavior | None = None
    """BLOCKING or NON_BLOCKING; None: the model's default."""
    scheduling: Scheduling | None = None
    """How a NON_BLOCKING call's result is taken in; None: the server's (WHEN_IDLE)."""

    @property
    def non_blocking(self) -> bool:
        """Whether the model goes on talking and listening while this tool runs."""
        return self.behavior == "NON_BLOCKING"

    def declaration(self) -> dict[str, Any]:
        """The `functionDeclarations` entry sent in the setup message."""
        declaration: dict[str, Any] = {"name": self.name, "description": self.description}
        if self.parameters.get("properties"):
            declaration["parameters"] = dict(self.parameters)
        if self.behavior is not None:
            declaration["behavior"] = self.behavior
        return declaration

    def response_scheduling(self, response: Mapping[str, Any]) -> Scheduling | None:
        """The `scheduling` to send with `response` (None for a blocking tool).

        A failure is never SILENT: the model told the room it would do something, and
        should say that it could not.
        """
        if not self.non_blocking:
            return None
        if self.scheduling == "SILENT" and "error" in response:
            return "WHEN_IDLE"
        return self.scheduling


class ToolRegistry:
    """Named async tools. `call()` validates arguments, runs the tool, never raises.

    ```python
    tools = ToolRegistry()

    @tools.tool(description="Add two numbers.", parameters={
        "type": "object",
        "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
        "required": ["a", "b"]})
    async def add(a: float, b: float) -> float:
        return a + b
    ```
    """

    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}

    def register(
        self,
        name: str,
        handler: ToolHandler,
        *,
        description: str,
        parameters: Mapping[str, Any] | None = None,
        timeout_s: float = 30.0,
        behavior: Behavior | None = None,
        scheduling: Scheduling | None = None,
    ) -> Tool:
        """Add a tool. `parameters` is a JSON schema of type object (None = no arguments)."""
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            raise ToolError(f"tool name {name!r} must match {NAME_PATTERN.pattern}")
        if name in self._tools:
            raise ToolError(f"tool {name!r} is already registered")
        if not inspect.iscoroutinefunction(handler):
            raise ToolError(f"tool {name!r}: handler must be an async function")
        if not description.strip():
            raise ToolError(f"tool {name!r}: description must not be empty")
        if timeout_s <= 0:
            raise ToolError(f"tool {name!r}: timeout_s must be positive, got {timeout_s}")
        schema: Mapping[str, Any] = parameters or {"type": "object", "properties": {}}
        try:
            check_schema(schema)
        except SchemaError as exc:
            raise ToolError(f"tool {name!r}: bad parameters schema: {exc}") from None
        if schema.get("type") != "object":
            raise ToolError(f"tool {name!r}: parameters schema must have type 'object'")
        _check_modes(name, behavior, scheduling)
        tool = Tool(name, description, schema, handler, timeout_s, behavior, scheduling)
        self._tools[name] = tool
        return tool

    def configure(
        self,
        name: str,
        *,
        behavior: Behavior | None = None,
        scheduling: Scheduling | None = None,
    ) -> Tool:
        """Set a registered tool's `behavior` and/or `scheduling` (None keeps the current)."""
        tool = self._tools.get(name)
        if tool is None:
            raise ToolError(f"no tool named {name!r}; registered: {sorted(self._tools)}")
        behavior = behavior if behavior is not None else tool.behavior
        scheduling = scheduling if scheduling is not None else tool.scheduling
        _check_modes(name, behavior, scheduling)
        tool = dataclasses.replace(tool, behavior=behavior, scheduling=scheduling)
        self._tools[name] = tool
        return tool

    def remove(self, name: str) -> None:
        """Take a tool out (an unknown name is an error)."""
        if self._tools.pop(name, None) is None:
            raise ToolError(f"no tool named {name!r}; registered: {sorted(self._tools)}")

    def copy(self) -> ToolRegistry:
        """A registry holding the same tools (configuring it leaves this one as it is)."""
        other = ToolRegistry()
        other._tools = dict(self._tools)
        return other

    def tool(
        self,
        name: str | None = None,
        *,
        description: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        timeout_s: float = 30.0,
        behavior: Behavior | None = None,
        scheduling: Scheduling | None = None,
    ) -> Callable[[ToolHandler], ToolHandler]:
        """Decorator form of `register`; the docstring is the default description."""

        def decorate(handler: ToolHandler) -> ToolHandler:
            self.register(
                name or handler.__name__,
                handler,
                description=description or inspect.getdoc(handler) or "",
                parameters=parameters,
                timeout_s=timeout_s,
                behavior=behavior,
                scheduling=scheduling,
            )
            return handler

        return decorate

    def declarations(self) -> list[dict[str, Any]]:
        """All tools as `functionDeclarations` entries."""
        return [tool.declaration() for tool in self._tools.values()]

    def get(self, name: str) -> Tool | None:
        """The tool called `name`, or None."""
        return self._tools.get(name)

    async def call(self, name: str, args: Mapping[str, Any] | None) -> dict[str, Any]:
        """Run a tool; the result is the `response` object of a functionResponse.

        Success gives `{"result": value}` (a dict result is passed through as is); an
        unknown tool, invalid arguments, a timeout or an exception gives `{"error": text}`.
        Cancellation propagates (the caller cancelled the call).
        """
        tool = self._tools.get(name)
        if tool is None:
            return {"error": f"unknown tool {name!r}; available: {sorted(self._tools)}"}
        arguments = dict(args or {})
        try:
            validate(tool.parameters, arguments, "args")
        except SchemaError as exc:
            return {"error": f"invalid arguments for {name}: {exc}"}
        try:
            result = await asyncio.wait_for(tool.handler(**arguments), tool.timeout_s)
        except TimeoutError:
            return {"error": f"{name} timed out after {tool.timeout_s:g} s"}
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return {"error": f"{name} failed: {type(exc).__name__}: {exc}"}
        if isinstance(result, dict):
            return result
        return {"result": result}

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)


def _check_modes(name: str, behavior: object, scheduling: object) -> None:
    if behavior is not None and behavior not in BEHAVIORS:
        raise ToolError(
            f"tool {name!r}: behavior must be one of {sorted(BEHAVIORS)}, got {behavior!r}"
        )
    if scheduling is not None and scheduling not in SCHEDULINGS:
        raise ToolError(
            f"tool {name!r}: scheduling must be one of {sorted(SCHEDULINGS)}, got {scheduling!r}"
        )
