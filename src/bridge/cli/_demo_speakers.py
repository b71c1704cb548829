"""`gemini-tg-bridge demo --speakers 2`: two people in one call, each named in the transcript.

Alice and Bob (two bundled espeak-ng voices, each its own ssrc in an in-memory
`GroupCall`) take turns with the bot, then talk over each other. The session tracks who
is speaking before it mixes them; each transcription piece names the speakers heard over
the audio it covers, and the demo prints them as the chat would read them. Against the
local emulator (which transcribes per utterance, naming the audio span each piece covers)
the bot replies with a one-second tone, so the run takes about twenty seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.resources
import time

from .._pacing import Monotonic
from ..config import BridgeConfig
from ..emulator import EmulatorConfig
from ..engine import PlayoutClock, Session
from ..engine.events import Event, Transcript, TurnEnded, TurnStarted
from ..tools import builtin_tools
from ..transports.audiofile import read_audio
from ..transports.demo import TurnSignals
from ..transports.group import GroupCall
from ._demo import demo_endpoint, print_metrics

RATE_HZ = 48_000
SPEAKERS = {11: ("Alice", "data/alice-en-16k.wav"), 22: ("Bob", "data/bob-en-16k.wav")}
"""ssrc → (name, bundled voice)."""
TURN_TIMEOUT_S = 20.0
OVERLAP_AFTER_S = 1.5
"""The last round: Bob starts this long after Alice, while she is still talking."""


def voice(path: str) -> bytes:
    """A bundled voice as 48 kHz mono PCM."""
    resource = importlib.resources.files("bridge").joinpath(path)
    with importlib.resources.as_file(resource) as sample:
        return read_audio(sample, RATE_HZ, 1)


def user_lines(event: Transcript, names: dict[int, str]) -> list[str]:
    """The user's words of a turn as printed: one line per speaker's part."""
    if not event.parts:
        return [f"  [user  ] {event.text.strip()}"]
    lines = []
    for part in event.parts:
        who = ", ".join(names.get(ssrc, f"ssrc {ssrc}") for ssrc in part.ssrcs) or "?"
        lines.append(f"  [{who}] {part.text.strip()}")
    return lines


class TranscriptPrinter:
    """Prints each turn once: the user's words by speaker, then the reply. (The reply's
    final transcript may come first; the user's is final only at the turn's end.)"""

    def __init__(self, names: dict[int, str]) -> None:
        self.names = names
        self.named: set[str] = set()
        """Speakers named in a printed line."""
        self._user: dict[int, Transcript] = {}
        self._reply: dict[int, str] = {}
        self._printed: set[int] = set()

    def on_event(self, event: Event) -> None:
        if isinstance(event, TurnEnded):
            self._print(event.turn_id)
        if not isinstance(event, Transcript) or event.turn_id in self._printed:
            return
        if event.role == "user":
            self._user[event.turn_id] = event
        elif event.final:
            self._reply[event.turn_id] = event.text
        if event.final and event.turn_id in self._user and event.turn_id in self._reply:
            self._print(event.turn_id)

    def flush(self) -> None:
        """Print what is left (a turn that never completed)."""
        for turn_id in sorted({*self._user, *self._reply}):
            self._print(turn_id)

    def _print(self, turn_id: int) -> None:
        self._printed.add(turn_id)
        user, reply = self._user.pop(turn_id, None), self._reply.pop(turn_id, None)
        if user is not None:
            for line in user_lines(user, self.names):
                print(line)
            names = self.names
            self.named.update(names[s] for part in user.parts for s in part.ssrcs if s in names)
        if reply is not None:
            print(f"  [gemini] {reply.strip()}")


async def run_speakers(
    config: BridgeConfig, *, live: bool, silence_ms: int, monotonic: Monotonic = time.monotonic
) -> int:
    """Play the conversation; 0 when every speaker was named in a transcript line.
    `monotonic` times the call and the session (the loop's clock in virtual-time tests)."""
    names = {ssrc: name for ssrc, (name, _) in SPEAKERS.items()}
    voices = {ssrc: voice(path) for ssrc, (_, path) in SPEAKERS.items()}
    emulator_config = EmulatorConfig(
        think_time_s=0.05,
        reply="tone",
        silence_duration_ms=silence_ms,
        piece_pause_ms=min(200, silence_ms // 2),
    )
    printer = TranscriptPrinter(names)
    async with contextlib.AsyncExitStack() as stack:
        config, where = await demo_endpoint(stack, config, live, emulator_config)
        config = config.with_overrides(transport={"sample_rate_hz": RATE_HZ, "channels": 1})
        call = GroupCall(SPEAKERS, sample_rate_hz=RATE_HZ, monotonic=monotonic)
        print(f"demo: {' and '.join(names.values())} in one call with {where}")
        clock = PlayoutClock(monotonic=monotonic)
        session = Session(config, call, tools=builtin_tools(), clock=clock)
        turns = TurnSignals()
        session.add_listener(printer.on_event)
        session.add_listener(
            lambda e: turns.turn_ended(e.interrupted) if isinstance(e, TurnEnded) else None
        )
        session.add_listener(lambda e: turns.turn_started() if isinstance(e, TurnStarted) else None)
        alice, bob = SPEAKERS
        try:
            await session.start()
            for script in ([(alice, 0.0)], [(bob, 0.0)], [(alice, 0.0), (bob, OVERLAP_AFTER_S)]):
                turns.ended.clear()
                now_s = max(m.frames_sent + m.queued_frames for m in call.members.values()) / 100
                for ssrc, after_s in script:
                    call.place(ssrc, voices[ssrc], now_s + 0.1 + after_s)
                await asyncio.wait_for(turns.ended.wait(), TURN_TIMEOUT_S)
        finally:
            await session.stop()
            await clock.aclose()
            printer.flush()
    print()
    print_metrics(session.metrics())
    missing = sorted(set(names.values()) - printer.named)
    if missing:
        print(f"demo failed: no transcript named {', '.join(missing)}")
        return 1
    return 0
