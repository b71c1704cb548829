"""Runs the model's function calls as tasks and answers them; cancels on request.

A call whose id the server cancelled (or that belonged to a connection since replaced) is
never answered: its task is cancelled, and a result that still turns up is dropped.
A failing tool answers with `{"error": ...}` and never takes the session down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from ..protocol import ConfigError, FunctionCall, FunctionResponse, LiveConnectionClosed
from ..tools import ToolRegistry
from ._publish import Publisher
from .events import ToolActivity

Respond = Callable[[FunctionResponse], Awaitable[None]]
"""Sends one response on the current connection (raises if there is none)."""


class ToolCalls:
    """The function calls in flight for one session."""

    def __init__(
        self,
        tools: ToolRegistry,
        publisher: Publisher,
        counters: dict[str, int],
        is_pending: Callable[[str], bool],
        respond: Respond,
    ) -> None:
        self._tools = tools
        self._publisher = publisher
        self._counters = counters
        self._is_pending = is_pending
        self._respond = respond
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._names: dict[str, str] = {}

    def __bool__(self) -> bool:
        return bool(self._tasks)

    def tasks(self) -> list[asyncio.Task[None]]:
        """The running call tasks."""
        return list(self._tasks.values())

    def start(self, call: FunctionCall) -> None:
        """Run `call` as a task."""
        self._counters["tool_calls"] += 1
        self._publisher.publish(ToolActivity(call.id, call.name, "started"))
        task = asyncio.get_running_loop().create_task(self._run(call), name=f"tool-{call.id}")
        self._tasks[call.id] = task
        self._names[call.id] = call.name

    def cancel(self, call_id: str, why: str) -> None:
        """Cancel one call (unknown or finished ids are ignored)."""
        task = self._tasks.pop(call_id, None)
        name = self._names.pop(call_id, "")
        if task is None:
            return
        task.cancel()
        self._counters["tool_cancellations"] += 1
        self._publisher.publish(ToolActivity(call_id, name, "cancelled", why))

    def cancel_all(self, why: str) -> None:
        """Cancel every call in flight."""
        for call_id in list(self._tasks):
            self.cancel(call_id, why)

    async def _run(self, call: FunctionCall) -> None:
        try:
            response = await self._tools.call(call.name, call.args)
        finally:
            self._tasks.pop(call.id, None)
            self._names.pop(call.id, None)
        if not self._is_pending(call.id):
            # Cancelled (or the connection moved on) while the result was being produced.
            self._counters["late_tool_results_dropped"] += 1
            return
        try:
            await self._respond(FunctionResponse(call.id, call.name, response))
        except (LiveConnectionClosed, OSError, ConfigError) as exc:
            self._counters["tool_errors"] += 1
            self._publisher.publish(ToolActivity(call.id, call.name, "failed", str(exc)))
            return
        if "error" in response and len(response) == 1:
            self._counters["tool_errors"] += 1
            self._publisher.publish(ToolActivity(call.id, call.name, "failed", response["error"]))
        else:
            self._publisher.publish(ToolActivity(call.id, call.name, "finished"))
