"""Slow pongs, as the service sends them (8-30 s after the ping).

websockets answers a ping inside its sans-I/O protocol (`Protocol.recv_frame` calls
`send_frame(Frame(PONG, ...))`) as soon as the frame is read, with no hook to delay it.
The connection class below wraps its protocol's `send_frame`: a pong is held back and
written by a loop timer after the delay, while every other frame (and all reading) goes
on as usual, so audio keeps flowing while the pong is late.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol


def slow_pong_connection(delay_s: Callable[[], float]) -> type[ServerConnection]:
    """A `ServerConnection` class whose pongs leave `delay_s()` seconds after each ping."""

    class SlowPongConnection(ServerConnection):
        def __init__(self, protocol: ServerProtocol, *args: Any, **kwargs: Any) -> None:
            super().__init__(protocol, *args, **kwargs)
            send_now = protocol.send_frame

            def send_frame(frame: Frame) -> None:
                wait_s = delay_s() if frame.opcode is Opcode.PONG else 0.0
                if wait_s > 0:
                    asyncio.get_running_loop().call_later(wait_s, late_pong, frame)
                else:
                    send_now(frame)

            def late_pong(frame: Frame) -> None:
                if protocol.state is State.OPEN:
                    send_now(frame)
                    self.send_data()

            protocol.send_frame = send_frame  # type: ignore[method-assign]

    return SlowPongConnection
