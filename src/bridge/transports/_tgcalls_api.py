"""What the bridge uses of py-tgcalls, typed, and the group-call errors it raises.

py-tgcalls ships no type hints: `VoiceCalls` is the part of `pytgcalls.PyTgCalls` the
bridge calls. `fit_participants_callback` repairs one known mismatch between
py-tgcalls 3.0 and the ntgcalls release it is installed with.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from pytgcalls.types import Device, GroupCallParticipant

__all__ = [
    "ChatNotFoundError",
    "GroupCallError",
    "NoVoiceChatError",
    "VoiceCalls",
    "fit_participants_callback",
]


class GroupCallError(RuntimeError):
    """Joining or using a group voice chat failed; the message says what to do."""


class ChatNotFoundError(GroupCallError):
    """The chat id or username does not resolve to a chat this account can see."""


class NoVoiceChatError(GroupCallError):
    """The chat exists but has no voice chat running (and starting one was not allowed)."""


class VoiceCalls(Protocol):
    """What the bridge uses of a `pytgcalls.PyTgCalls` (py-tgcalls ships no type hints)."""

    @property
    def mtproto_client(self) -> object: ...

    async def start(self) -> object: ...
    def add_handler(
        self, func: Callable[..., Awaitable[None]], filters: object = None
    ) -> object: ...
    async def resolve_chat_id(self, chat_id: int | str) -> int: ...
    async def play(self, chat_id: int, stream: object = None, config: object = None) -> None: ...
    async def record(self, chat_id: int, stream: object = None) -> None: ...
    async def send_frame(self, chat_id: int, device: Device, data: bytes) -> None: ...
    async def leave_call(self, chat_id: int) -> None: ...
    async def get_participants(self, chat_id: int) -> Sequence[GroupCallParticipant]: ...


def fit_participants_callback(calls: Any) -> bool:
    """Register a participant-request callback that takes what ntgcalls passes.

    py-tgcalls 3.0 registers `lambda chat_id: ...`; ntgcalls 3.0.5 calls it with
    `(chat_id, request)`, and ntgcalls swallows the TypeError, so conference calls never
    get their participant list. Call after `PyTgCalls.start()`; returns whether the
    callback was replaced (False: no binding, or the installed ntgcalls passes only the id).
    """
    binding = getattr(calls, "_binding", None)
    handle = getattr(calls, "_handle_request_participants", None)
    if binding is None or handle is None:
        return False
    doc = inspect.getdoc(binding.on_request_participants) or ""
    if "ParticipantsRequest" not in doc.partition("Callable[[")[2].partition("]")[0]:
        return False
    loop = calls.loop

    def on_request(chat_id: int, *_request: object) -> None:
        asyncio.run_coroutine_threadsafe(handle(chat_id), loop)

    binding.on_request_participants(on_request)
    return True
