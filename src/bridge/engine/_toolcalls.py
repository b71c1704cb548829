"""Runs the model's function calls as tasks and answers them; cancels on request.

A call whose id the server cancelled (or that belonged to a connection since replaced) is
never answered: its task is cancelled, and a result that still turns up is dropped.
A failing tool answers with `{"error": ...}` and never takes the session down; so does
one whose result cannot be sent as JSON, since the model waits for an answer to every call.
A second call reusing the id of one still running replaces it (the first is cancelled).
Streamed calls (`willContinue`, `partialArgs`) are joined per id first and run once whole.

A NON_BLOCKING tool's answer carries its `scheduling` (the model went on talking; the
scheduling says when it speaks about the result). A call the model waits on (any other
tool) that is still running after `slow_notice_s` publishes `ToolActivity(..., "slow")`,
which a chat turns into a short notice: the room hears nothing while the model waits.
A finished call's `ToolActivity` carries its result as JSON (cut to `RESULT_CHARS`).

A server cannot make this unbounded: at most `MAX_CALLS_PER_MESSAGE` calls of one message
and `MAX_CALLS_IN_FLIGHT` in all run as tasks; the rest are answered with an error by one
task (up to `MAX_REFUSALS_QUEUED` waiting; beyond that they are counted and dropped), and
every per-call warning goes through a `FaultReporter`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson

from .._faults import FaultReporter
from ..protocol import (
    CallAssembler,
    ConfigError,
    FunctionCall,
    FunctionResponse,
    LiveConnectionClosed,
    LocalProtocolError,
    ProtocolError,
)
from ..tools import ToolRegistry
from ._publish import Publisher
from ._stats import SessionCounters
from .events import ToolActivity

log = logging.getLogger(__name__)

Respond = Callable[[FunctionResponse], Awaitable[None]]
"""Sends one response on the current connection (raises if there is none)."""

MAX_CALLS_PER_MESSAGE = 16
"""Calls of one `toolCall` message run as tasks; the model asks for one or two at a time."""
MAX_CALLS_IN_FLIGHT = 32
"""Calls running at once in a session."""
MAX_REFUSALS_QUEUED = 16_384
"""Calls over the limits waiting for their error answer."""
RESULT_CHARS = 1000
"""Longest result text a `ToolActivity` carries."""


class ToolCalls:
    """The function calls in flight for one session."""

    def __init__(
        self,
        tools: ToolRegistry,
        publisher: Publisher,
        counters: SessionCounters,
        is_pending: Callable[[str], bool],
        respond: Respond,
        *,
        slow_notice_s: float = 0.0,
    ) -> None:
        self._tools = tools
        self._slow_notice_s = slow_notice_s
        self._publisher = publisher
        self._counters = counters
        self._is_pending = is_pending
        self._respond = respond
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._names: dict[str, str] = {}
        self._streamed = CallAssembler()
        self._refusals: deque[tuple[FunctionCall, str]] = deque()
        self._refuser: asyncio.Task[None] | None = None
        self._reused = FaultReporter("tool call id reused while still running", log)
        self._over = FaultReporter("tool calls over the limit answered with an error", log)
        self._bad = FaultReporter("unusable streamed tool call", log)
        self._unanswered = FaultReporter("tool calls over the limit left unanswered", log)

    def __bool__(self) -> bool:
        return bool(self._tasks)

    def waited_on(self) -> bool:
        """Whether a call the model waits on (not NON_BLOCKING) is running."""
        for name in self._names.values():
            tool = self._tools.get(name)
            if tool is None or not tool.non_blocking:
                return True
        return False

    def tasks(self) -> list[asyncio.Task[None]]:
        """The running call tasks (and the one answering refused calls)."""
        refuser = [] if self._refuser is None or self._refuser.done() else [self._refuser]
        return [*self._tasks.values(), *refuser]

    def start_all(self, calls: Sequence[FunctionCall]) -> None:
        """Run the calls of one `toolCall` message, within the limits."""
        started = 0
        for piece in calls:
            try:
                call = self._streamed.feed(piece)
            except ProtocolError as exc:
                self._bad.report(exc)
                if piece.id:
                    self._refuse(piece, f"unusable call: {exc}")
                continue
            if call is None:
                continue  # more pieces to come
            if started >= MAX_CALLS_PER_MESSAGE:
                self._refuse(call, f"more than {MAX_CALLS_PER_MESSAGE} calls in one message")
            elif len(self._tasks) >= MAX_CALLS_IN_FLIGHT and call.id not in self._tasks:
                self._refuse(call, f"more than {MAX_CALLS_IN_FLIGHT} calls running")
            else:
                started += 1
                self.start(call)

    def start(self, call: FunctionCall) -> None:
        """Run `call` as a task (cancelling a running call with the same id)."""
        if call.id in self._tasks:
            # Only one call per id can be answered, and the server is waiting on the
            # latest; the older task would otherwise be left running beyond our reach.
            self._reused.report(f"{call.id!r:.60}; cancelling the first")
            self.cancel(call.id, "replaced by a new call with the same id")
        self._counters.tool_calls += 1
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
        self._counters.tool_cancellations += 1
        self._publisher.publish(ToolActivity(call_id, name, "cancelled", why))

    def cancel_all(self, why: str) -> None:
        """Cancel every call in flight (and forget streamed calls and refusals)."""
        for call_id in list(self._tasks):
            self.cancel(call_id, why)
        self._streamed.clear()
        self._refusals.clear()

    def _refuse(self, call: FunctionCall, why: str) -> None:
        self._counters.tool_errors += 1
        if len(self._refusals) >= MAX_REFUSALS_QUEUED:
            self._unanswered.report(f"{call.name or call.id!r:.60}: {why}")
            return
        self._over.report(why)
        self._refusals.append((call, why))
        if self._refuser is None or self._refuser.done():
            self._refuser = asyncio.get_running_loop().create_task(
                self._answer_refusals(), name="tool-refusals"
            )

    async def _answer_refusals(self) -> None:
        while self._refusals:
            call, why = self._refusals.popleft()
            if not self._is_pending(call.id):
                continue
            try:
                await self._respond(FunctionResponse(call.id, call.name, {"error": why}))
            except (LiveConnectionClosed, LocalProtocolError, OSError):
                self._refusals.clear()  # the connection that asked is gone
            # A send into a socket buffer with room does not suspend: yield, or 10,000
            # refusals would hold the loop as one long step.
            await asyncio.sleep(0)

    def _notice_when_slow(self, call: FunctionCall) -> asyncio.TimerHandle | None:
        tool = self._tools.get(call.name)
        if tool is None or tool.non_blocking or self._slow_notice_s <= 0:
            return None
        slow = ToolActivity(call.id, call.name, "slow", f"running for {self._slow_notice_s:g} s")
        return asyncio.get_running_loop().call_later(
            self._slow_notice_s, self._publisher.publish, slow
        )

    def _answer(self, call: FunctionCall, response: dict[str, Any]) -> FunctionResponse:
        tool = self._tools.get(call.name)
        scheduling = tool.response_scheduling(response) if tool is not None else None
        return FunctionResponse(call.id, call.name, response, scheduling=scheduling)

    async def _run(self, call: FunctionCall) -> None:
        me = asyncio.current_task()
        notice = self._notice_when_slow(call)
        try:
            response = await self._tools.call(call.name, call.args)
        finally:
            if notice is not None:
                notice.cancel()
            # A newer call with the same id may have taken the slot: leave it alone.
            if self._tasks.get(call.id) is me:
                del self._tasks[call.id]
                self._names.pop(call.id, None)
        if not self._is_pending(call.id) or self._tasks.get(call.id) is not None:
            # Cancelled (or the connection moved on, or a newer call with this id runs)
            # while the result was being produced.
            self._counters.late_tool_results_dropped += 1
            return
        try:
            await self._respond(self._answer(call, response))
        except ConfigError as exc:
            error = f"tool result is not JSON-serialisable: {exc}"
            log.warning("tool %s: %s", call.name, error)
            self._counters.tool_errors += 1
            self._publisher.publish(ToolActivity(call.id, call.name, "failed", error))
            try:
                await self._respond(self._answer(call, {"error": error}))
            except (LiveConnectionClosed, LocalProtocolError, OSError) as send_exc:
                log.warning("tool %s: could not send its error: %s", call.name, send_exc)
            return
        except (LiveConnectionClosed, LocalProtocolError, OSError) as exc:
            # Closed, or replaced since the call came: this connection cannot answer it.
            self._counters.tool_errors += 1
            self._publisher.publish(ToolActivity(call.id, call.name, "failed", str(exc)))
            return
        if "error" in response and len(response) == 1:
            self._counters.tool_errors += 1
            self._publisher.publish(ToolActivity(call.id, call.name, "failed", response["error"]))
        else:
            result = orjson.dumps(response).decode()
            if len(result) > RESULT_CHARS:
                result = result[: RESULT_CHARS - 1] + "…"
            self._publisher.publish(ToolActivity(call.id, call.name, "finished", result))
