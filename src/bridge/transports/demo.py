"""The demo's call and its scripted conversation, measured at the user's end.

`open_call(via)` opens a call by name and yields the bot's `Transport` with the
`SimulatedUser` at the other end: `"wav"` is the in-memory `WavTransport`, `"ntgcalls"` a
real WebRTC/Opus call on loopback. `converse()` plays the demo's script on it: ask, listen
to the whole reply; ask again and talk over the reply to show barge-in. It knows about
turns only through `TurnSignals`, which whoever runs the session feeds, so this module
needs nothing from the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np

from ._base import FRAME_MS, Transport
from ._user import SimulatedUser
from .wav import WavTransport

__all__ = ["VIAS", "Round", "TurnSignals", "converse", "heard_between", "open_call"]

VIAS: tuple[str, ...] = ("wav", "ntgcalls")
LOUD = 300
"""int16 peak that counts as audible in what the user hears (about -40 dBFS)."""
BARGE_IN_AFTER_S = 1.5
"""Round two: how long the reply plays before the user cuts in, at most..."""
BARGE_IN_SHARE = 0.4
"""...and at most this share of the question, so the cut comes while the reply is still
being generated (the reply echoes the question; a shorter question, a shorter reply)."""
BARGE_IN_WAIT_FRAMES = 50
"""...then at most this many frames more, for the bot to be heard talking."""
TURN_TIMEOUT_S = 15.0
_FRAME_S = FRAME_MS / 1000
_PAUSE_S = 0.3  # between the two questions, as a person would
_TAIL_S = 0.2  # after the barge-in, so the last frames of the reply are heard


@contextlib.asynccontextmanager
async def open_call(
    via: str, sample_rate_hz: int = 48_000, channels: int = 1
) -> AsyncIterator[tuple[Transport, SimulatedUser]]:
    """The bot's transport and the simulated user for `via` (one of `VIAS`), torn down
    on exit. For `"ntgcalls"` end the program with `os._exit` after the call is closed."""
    if via == "wav":
        transport = WavTransport(sample_rate_hz=sample_rate_hz, channels=channels)
        yield transport, transport
        return
    if via == "ntgcalls":
        from .loopback import LoopbackCall

        async with LoopbackCall(sample_rate_hz=sample_rate_hz, channels=channels) as call:
            yield call.transport, call.user
        return
    raise ValueError(f"--via {via!r}: expected one of {list(VIAS)}")


class TurnSignals:
    """What the script needs to know about the bot's turns; feed it from session events."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.ended = asyncio.Event()
        self.interrupted = False
        """Whether any turn so far ended interrupted."""

    def turn_started(self) -> None:
        """The bot began a reply."""
        self.started.set()

    def turn_ended(self, interrupted: bool) -> None:
        """The bot's reply finished, or was cut off (`interrupted`)."""
        self.interrupted |= interrupted
        self.ended.set()


@dataclass(slots=True)
class Round:
    """One question and its reply, in the user's clock (NaN where it did not happen)."""

    speech_start_s: float = math.nan
    speech_end_s: float = math.nan
    first_heard_s: float = math.nan
    """Round one: the first audible reply frame. Round two: when the user cut in."""
    silent_heard_s: float = math.nan
    """Round two: when the last audible frame of the interrupted reply ended."""


async def converse(user: SimulatedUser, speech: bytes, turns: TurnSignals) -> tuple[Round, Round]:
    """Ask `speech` twice: listen to the first reply, talk over the second."""
    first, second = Round(), Round()
    start, last = _speak(user, speech)
    spoken_s = (last - start + 1) * _FRAME_S
    first.speech_start_s = await user.wait_sent(start)
    first.speech_end_s = await user.wait_sent(last) + _FRAME_S
    await asyncio.wait_for(turns.ended.wait(), TURN_TIMEOUT_S)
    first.first_heard_s = _first_loud(user, first.speech_end_s)
    await asyncio.sleep(_PAUSE_S)
    turns.started.clear()
    turns.ended.clear()
    start, last = _speak(user, speech)
    second.speech_start_s = await user.wait_sent(start)
    second.speech_end_s = await user.wait_sent(last) + _FRAME_S
    await asyncio.wait_for(turns.started.wait(), TURN_TIMEOUT_S)
    # Cut in while the reply (as long as the question) is still being generated, and
    # while the bot is talking: people talk over speech, not into its pauses.
    await asyncio.sleep(min(BARGE_IN_AFTER_S, BARGE_IN_SHARE * spoken_s))
    for _ in range(BARGE_IN_WAIT_FRAMES):
        if user.heard and _peak(user.heard[-1].pcm) >= LOUD:
            break
        await asyncio.sleep(_FRAME_S)
    turns.ended.clear()
    start, _ = _speak(user, speech)
    barge_s = await user.wait_sent(start)
    await asyncio.wait_for(turns.ended.wait(), 5.0)
    await asyncio.sleep(_TAIL_S)
    second.first_heard_s = barge_s
    second.silent_heard_s = _silent_from(user, barge_s)
    return first, second


def heard_between(user: SimulatedUser, start_s: float, end_s: float) -> bytes:
    """The PCM the user heard arriving in [start_s, end_s)."""
    return b"".join(f.pcm for f in user.heard if start_s <= f.arrival_s < end_s)


def _speak(user: SimulatedUser, pcm: bytes) -> tuple[int, int]:
    """Queue `pcm`; return the frame indexes of its first and last audible frames."""
    frame_bytes = user.sample_rate_hz * FRAME_MS // 1000 * 2 * user.channels
    start = user.say(pcm)
    loud = [i for i in range(0, len(pcm), frame_bytes) if _peak(pcm[i : i + frame_bytes]) >= LOUD]
    first, last = (loud[0], loud[-1]) if loud else (0, len(pcm) - 1)
    return start + first // frame_bytes, start + last // frame_bytes


def _peak(pcm: bytes) -> int:
    samples = np.frombuffer(pcm, dtype=np.int16)
    return int(np.abs(samples.astype(np.int32)).max()) if samples.size else 0


def _first_loud(user: SimulatedUser, after_s: float) -> float:
    for frame in user.heard:
        if frame.arrival_s >= after_s and _peak(frame.pcm) >= LOUD:
            return frame.arrival_s
    return math.nan


def _silent_from(user: SimulatedUser, after_s: float) -> float:
    """When the last audible frame heard after `after_s` ended (`after_s` if none)."""
    silent_s = after_s
    for frame in user.heard:
        if frame.arrival_s >= after_s and _peak(frame.pcm) >= LOUD:
            silent_s = frame.arrival_s + _FRAME_S
    return silent_s
