"""The emulated model's function calls: BLOCKING ones hold the reply, NON_BLOCKING ones not.

A function declared `behavior: NON_BLOCKING` is called and the reply goes on at once
(the model keeps talking and listening); its response says when the model speaks about
the result (`scheduling`): SILENT never, WHEN_IDLE (the default, as google-genai's types
document) after the reply in progress, INTERRUPT at once, cutting that reply. Any other
call (BLOCKING, or no behavior) holds its reply until the response comes. A barge-in
cancels the calls a reply is waiting on; a non-blocking call outlives the reply that made
it, as the conversation moved on without waiting for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from ..protocol._events import SCHEDULINGS
from ._wire import WireError

Send = Callable[[dict[str, Any]], Awaitable[None]]

_SCHEDULINGS = SCHEDULINGS | {"SCHEDULING_UNSPECIFIED"}


def declared_behaviors(setup: dict[str, Any]) -> dict[str, str | None]:
    """Each declared function's `behavior` (None when the declaration has none); the
    setup was checked (`check_setup`)."""
    return {
        str(declaration["name"]): declaration.get("behavior")
        for tool in setup.get("tools") or []
        for declaration in tool.get("functionDeclarations") or []
    }


def said_about(name: str, response: dict[str, Any]) -> str:
    """What the emulated model says about a function's result."""
    return f"{name} returned {orjson.dumps(response.get('response')).decode()}"


class FunctionCalls:
    """The calls of one connection: replies waiting on theirs, and those running aside."""

    def __init__(self, setup: dict[str, Any], send: Send) -> None:
        self.behaviors = declared_behaviors(setup)
        self._send = send
        self.waited_on: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.aside: dict[str, str] = {}
        """Id → name of NON_BLOCKING calls not answered yet."""

    def non_blocking(self, name: str) -> bool:
        """Whether a call of `name` lets the reply go on."""
        return self.behaviors.get(name) == "NON_BLOCKING"

    async def call(self, call_id: str, name: str, args: dict[str, Any]) -> str | None:
        """Call `name`; for a call the reply waits on, what the model then says about it
        (None for a NON_BLOCKING call: the reply goes on at once)."""
        message = {"toolCall": {"functionCalls": [{"id": call_id, "name": name, "args": args}]}}
        if self.non_blocking(name):
            self.aside[call_id] = name
            await self._send(message)
            return None
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waited_on[call_id] = future
        await self._send(message)
        return said_about(name, await future)

    async def cancel_waited_on(self) -> None:
        """Barge-in: the calls the interrupted reply waited on are cancelled."""
        cancelled = list(self.waited_on)
        for future in self.waited_on.values():
            future.cancel()
        self.waited_on.clear()
        if cancelled:
            await self._send({"toolCallCancellation": {"ids": cancelled}})

    def answered(self, index: int, response: dict[str, Any]) -> tuple[str, str] | None:
        """Take one `functionResponses[index]`; for a NON_BLOCKING call, its scheduling
        and what the model says about it, else None."""
        scheduling = response.get("scheduling")
        if scheduling is not None and scheduling not in _SCHEDULINGS:
            raise WireError(
                f"Invalid value at 'tool_response.function_responses[{index}].scheduling': "
                f"{scheduling!r}"
            )
        call_id = response["id"]
        future = self.waited_on.pop(call_id, None)
        if future is not None and not future.done():
            future.set_result(response)
        name = self.aside.pop(call_id, None)
        if name is None:
            return None
        if scheduling in (None, "SCHEDULING_UNSPECIFIED"):
            scheduling = "WHEN_IDLE"
        return scheduling, said_about(name, response)
