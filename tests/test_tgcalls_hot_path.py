"""Telegram frames to and from ntgcalls' binding directly; inbound batched onto the loop.

py-tgcalls turns each ntgcalls frame batch into a coroutine, a task and a filter check
per registered handler (~55 µs of event-loop time per 10 ms frame per speaker on a
2-core host); the transport registers its own callback on the binding instead. Here the
binding's callback is called from a thread, as ntgcalls calls it, with real
`ntgcalls.Frame` objects.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import ntgcalls
from _telegram_fakes import BOT_SSRC, CHAT_ID, FakeCalls

from bridge.transports.tgcalls import GroupCallTransport

PLAYBACK, CAPTURE = ntgcalls.StreamMode.PLAYBACK, ntgcalls.StreamMode.CAPTURE
MICROPHONE = ntgcalls.StreamDevice.MICROPHONE


class Binding:
    """The part of `ntgcalls.NTgCalls` the transport registers on: one frame callback."""

    def __init__(self) -> None:
        self.callback: Callable[..., None] | None = None

    def on_frames(self, callback: Callable[..., None]) -> None:
        self.callback = callback


def frame(ssrc: int, value: int) -> Any:
    return ntgcalls.Frame(ssrc, bytes([value]) * 960, ntgcalls.FrameData())


def test_frames_from_ntgcalls_thread_reach_each_chats_sink_in_order(run: Any) -> None:
    async def scenario() -> list[tuple[int, bytes]]:
        calls = FakeCalls()
        calls._binding = Binding()  # type: ignore[attr-defined]
        transport = GroupCallTransport(calls, CHAT_ID)
        got: list[tuple[int, bytes]] = []
        await transport.start(lambda ssrc, pcm: got.append((ssrc, pcm)))
        callback = calls._binding.callback  # type: ignore[attr-defined]
        assert callback is not None, "no frame callback registered on the ntgcalls binding"

        def ntgcalls_thread() -> None:
            for i in range(50):
                callback(CHAT_ID, PLAYBACK, MICROPHONE, [frame(1001, i), frame(BOT_SSRC, 1)])
                callback(CHAT_ID, CAPTURE, MICROPHONE, [frame(1002, i)])  # our own outgoing
                callback(-100999, PLAYBACK, MICROPHONE, [frame(1003, i)])  # no transport

        thread = threading.Thread(target=ntgcalls_thread)
        thread.start()
        await asyncio.get_running_loop().run_in_executor(None, thread.join)
        await asyncio.sleep(0.05)
        await transport.stop()
        return got

    got = run(scenario())
    # Every incoming frame of this chat, in order; not the bot's own, not the outgoing
    # stream, not another chat's.
    assert got == [(1001, bytes([i]) * 960) for i in range(50)]


class SendingBinding(Binding):
    """`send_external_frame` as ntgcalls has it: a frame per call; ConnectionNotFound once
    the call is gone."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[int, Any, bytes]] = []
        self.in_call = True

    async def send_external_frame(self, chat_id: int, device: Any, data: bytes, _info: Any) -> None:
        if not self.in_call:
            raise ntgcalls.ConnectionNotFound(f'Connection with chat id "{chat_id}" not found')
        self.sent.append((chat_id, device, data))


def test_frames_go_to_ntgcalls_directly_and_a_lost_call_ends_the_transport(run: Any) -> None:
    async def scenario() -> tuple[SendingBinding, FakeCalls, GroupCallTransport]:
        calls = FakeCalls()
        binding = calls._binding = SendingBinding()  # type: ignore[attr-defined]
        transport = GroupCallTransport(calls, CHAT_ID)
        await transport.start(lambda ssrc, pcm: None)
        await transport.send_frame(bytes([1]) * 960)
        binding.in_call = False  # removed from the call: py-tgcalls sends no update
        await transport.send_frame(bytes([2]) * 960)
        await transport.send_frame(bytes([3]) * 960)
        return binding, calls, transport

    binding, calls, transport = run(scenario())
    assert binding.sent == [(CHAT_ID, MICROPHONE, bytes([1]) * 960)]
    assert calls.sent == []  # nothing through py-tgcalls' type-checked wrapper
    assert not transport.joined and transport.ended.is_set()
    assert transport.frames_sent == 1 and transport.frames_dropped == 2
