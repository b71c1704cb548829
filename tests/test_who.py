"""Who said what: transcript pieces named after the speakers heard over their audio.

Scripted calls against the emulator in virtual time: two or three participants (different
espeak-ng voices, separate ssrcs) take turns, some of them talking over each other. The
emulator sends one inputTranscription piece per utterance, naming the span of received
audio it covers; the truth for that span comes from the script (which speaker's loud
frames fall into it), and each piece must name the speakers the truth does.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import captured, loop_clock

from bridge.config import BridgeConfig
from bridge.emulator import Emulator, EmulatorConfig
from bridge.emulator._pieces import UtterancePieces
from bridge.engine import Session
from bridge.engine._speakers import SpeakerTimeline
from bridge.engine.events import Event, Spoken, Transcript
from bridge.transports.audiofile import read_audio
from bridge.transports.group import GroupCall, Line

DATA = Path(__file__).resolve().parents[1] / "src" / "bridge" / "data"
ALICE, BOB, CAROL = 11, 22, 33
VOICES = {ALICE: "alice-en-16k.wav", BOB: "bob-en-16k.wav", CAROL: "speech-en-48k.wav"}
RATE_HZ = 48_000
UPLINK_HZ = 16_000
SPAN = re.compile(r"\[speech (\d+\.\d+)-(\d+\.\d+) s\]")


@functools.cache
def voice(ssrc: int) -> bytes:
    return read_audio(DATA / VOICES[ssrc], RATE_HZ, 1)


def loud_positions(line: Line) -> np.ndarray:
    """Uplink (16 kHz) sample positions of the 10 ms frames of `line` that are speech."""
    samples = np.frombuffer(line.pcm, dtype=np.int16).astype(np.float64)
    n_frames = samples.size // 480
    rms = np.sqrt(np.mean(samples[: n_frames * 480].reshape(n_frames, 480) ** 2, axis=1))
    loud = np.flatnonzero(20 * np.log10(np.maximum(rms, 1e-9) / 32768) >= -45)
    return (line.start_frame + loud) * 160


Loud = Sequence[tuple[int, np.ndarray]]
"""Each line's speaker and `loud_positions`."""


def truth(loud: Loud, start: int, end: int) -> set[int]:
    """The speakers of uplink samples [start, end), by the bridge's own naming rule."""
    active: dict[int, int] = {}
    for ssrc, frames in loud:
        n = int(np.count_nonzero((frames >= start) & (frames < end))) * 160
        if n:
            active[ssrc] = active.get(ssrc, 0) + n
    if not active:
        return set()
    floor = max(480, 0.3 * max(active.values()))
    return {ssrc for ssrc, n in active.items() if n >= floor}


def pieces(parts: Sequence[Spoken]) -> list[tuple[set[int], int, int]]:
    """Each transcription piece in `parts`: (speakers named, span start, span end)."""
    found = []
    for part in parts:
        for a, b in SPAN.findall(part.text):
            found.append(
                (set(part.ssrcs), round(float(a) * UPLINK_HZ), round(float(b) * UPLINK_HZ))
            )
    return found


Script = Callable[[GroupCall], float]
"""Places the lines of a call; returns when the last one ends (s)."""


Pieces = list[tuple[set[int], set[int]]]
"""(named, true) speakers of every transcription piece of a call."""


async def attributed(
    script: Script, ssrcs: Sequence[int], lag_ms: int = 0, **emulator: Any
) -> tuple[Pieces, int]:
    """Run a scripted call: its pieces, and how many connections carried it.
    `lag_ms`: the bridge's `engine.transcript_lag_ms`."""
    emulator_config = EmulatorConfig(
        piece_pause_ms=200, silence_duration_ms=700, speed=4.0, **emulator
    )
    async with Emulator(emulator_config) as emulator:
        config = BridgeConfig().with_overrides(
            endpoint={"url": emulator.url}, engine={"transcript_lag_ms": lag_ms}
        )
        loop = asyncio.get_running_loop()
        call = GroupCall(ssrcs, sample_rate_hz=RATE_HZ, monotonic=loop.time)
        end_s = script(call)
        latest: dict[int, Transcript] = {}

        def keep(event: Event) -> None:
            if isinstance(event, Transcript) and event.role == "user":
                latest[event.turn_id] = event

        session = Session(config, call, clock=loop_clock())
        session.add_listener(keep)
        async with session:
            await asyncio.sleep(end_s + 2.0)
        (record,) = emulator.sessions
    # The emulator names spans of the audio it received; the script knows the call's.
    stretches = session.uplink.stretches
    loud = [(line.ssrc, loud_positions(line)) for line in call.spoken]
    results = []
    for event in latest.values():
        for named, start, end in pieces(event.parts):
            span = captured(stretches, start), captured(stretches, end - 1) + 1
            results.append((named, truth(loud, *span)))
    return results, record.n_connections


def turn_taking(call: GroupCall) -> float:
    """Nine lines, three speakers, 0.5-1.2 s between one speaker and the next."""
    at_s = 0.5
    for index, ssrc in enumerate([ALICE, BOB, CAROL, BOB, ALICE, CAROL, ALICE, BOB, CAROL]):
        line = call.place(ssrc, voice(ssrc), at_s)
        at_s += len(line.pcm) / 2 / RATE_HZ + (0.5, 0.8, 1.2)[index % 3]
    return at_s


def talking_over(call: GroupCall) -> float:
    """Pairs of speakers, the second starting 1.5 s into the first's line."""
    at_s = 0.5
    for first, second in [(ALICE, BOB), (BOB, ALICE), (ALICE, BOB), (BOB, ALICE)]:
        line = call.place(first, voice(first), at_s)
        other = call.place(second, voice(second), at_s + 1.5)
        at_s += max(len(line.pcm), len(other.pcm) + 1.5 * RATE_HZ * 2) / 2 / RATE_HZ + 1.0
    return at_s


def share_right(results: Pieces) -> float:
    return sum(named == true for named, true in results) / len(results)


@pytest.mark.parametrize(
    ("delay_ms", "lag_ms", "moves"),
    [(0, 0, False), (1200, 1000, False), (0, 0, True)],
    ids=["prompt", "transcribed-1.2s-late", "across-reconnects"],
)
def test_turns_that_do_not_overlap_name_the_right_speaker(
    run_virtual: Callable[..., tuple[Pieces, int]], delay_ms: int, lag_ms: int, moves: bool
) -> None:
    # Moves: each connection lasts 12 s, so the call is carried by four or more.
    lifetime = {"session_seconds": 12.0, "go_away_s": 2.0} if moves else {}
    call = attributed(turn_taking, [ALICE, BOB, CAROL], lag_ms, piece_delay_ms=delay_ms, **lifetime)
    results, n_connections = run_virtual(call, timeout_s=120)
    assert n_connections >= 4 if moves else n_connections == 1
    assert len(results) >= 9  # at least a piece per line
    assert {frozenset(true) for _, true in results} >= {
        frozenset({ALICE}),
        frozenset({BOB}),
        frozenset({CAROL}),
    }
    print(f"non-overlapping: {share_right(results):.1%} of {len(results)} pieces right")
    assert share_right(results) >= 0.95, results


def test_transcription_later_than_the_lag_set_misnames_speakers(
    run_virtual: Callable[..., tuple[Pieces, int]],
) -> None:
    # The limit the README states: pieces 1.2 s late, attributed as if prompt.
    results, _ = run_virtual(
        attributed(turn_taking, [ALICE, BOB, CAROL], 0, piece_delay_ms=1200), timeout_s=120
    )
    assert share_right(results) < 0.8


def test_overlapping_turns_name_both_speakers(
    run_virtual: Callable[..., tuple[Pieces, int]],
) -> None:
    results, _ = run_virtual(attributed(talking_over, [ALICE, BOB]), timeout_s=120)
    both = [(named, true) for named, true in results if len(true) == 2]
    assert both, results
    print(
        f"overlapping: {share_right(results):.1%} of {len(results)} pieces right; "
        f"{share_right(both):.1%} of the {len(both)} with two speakers"
    )
    assert share_right(results) >= 0.7, results


def test_a_click_is_not_a_speaker_and_a_pause_does_not_end_one() -> None:
    timeline = SpeakerTimeline(1000)
    loud, quiet = np.full(480, 5000, np.int16).tobytes(), bytes(960)
    position = 0

    def frame(ssrc_pcm: dict[int, bytes]) -> None:
        nonlocal position
        for ssrc, pcm in ssrc_pcm.items():
            timeline.frame(ssrc, pcm)
        timeline.mark(position, 160)
        position += 160

    frame({1: loud, 2: quiet})  # one loud frame: a click
    frame({1: quiet, 2: quiet})
    assert timeline.active == ()
    for _ in range(50):
        frame({1: quiet, 2: loud})
    for _ in range(5):  # a 50 ms breath
        frame({1: quiet, 2: quiet})
    assert timeline.active == (2,)
    for _ in range(50):
        frame({1: loud, 2: loud})
    assert timeline.active == (2, 1)
    assert timeline.attribute(0, position) == (2, 1)
    assert timeline.attribute(0, 52 * 160) == (2,)


def test_a_speaker_whose_frames_stop_stops_speaking() -> None:
    timeline = SpeakerTimeline(1000, hangover_frames=10)
    loud = np.full(480, 5000, np.int16).tobytes()
    for position in range(0, 3 * 160, 160):
        timeline.frame(7, loud)
        timeline.mark(position, 160)
    assert timeline.active == (7,)
    for position in range(3 * 160, 12 * 160, 160):  # 90 ms without a frame from 7
        timeline.mark(position, 160)
    assert timeline.active == (7,)
    timeline.mark(12 * 160, 160)  # 100 ms: as long as a pause that ends speech
    assert timeline.active == ()
    assert timeline.attribute(0, 14 * 160) == (7,)


def test_an_ssrc_gone_for_a_minute_starts_afresh() -> None:
    timeline = SpeakerTimeline(1000, forget_frames=3000)
    click = np.full(480, 5000, np.int16).tobytes()
    timeline.frame(7, click)  # its last frame before it left: one loud frame
    for position in range(0, 3001 * 160, 160):  # a minute without it
        timeline.mark(position, 160)
    timeline.frame(7, click)  # reused: one click is still no speaker
    assert timeline.active == ()


def test_the_emulator_sends_a_piece_per_utterance_naming_its_audio() -> None:
    pieces_ = UtterancePieces(200)
    tone = (np.sin(np.arange(1600) / 3) * 8000).astype(np.int16).tobytes()  # 100 ms
    silence = bytes(3200 * 2)  # 200 ms
    audio = silence + tone * 5 + bytes(1600) + tone * 3 + silence + tone * 2
    texts = pieces_.texts(audio, 16_000) + pieces_.texts(b"", 16_000, turn_ended=True)
    # A 50 ms gap does not split an utterance; 200 ms does; the turn's end flushes.
    assert texts == ["[speech 0.20-1.05 s] ", "[speech 1.25-1.45 s] "]


@pytest.mark.parametrize(
    ("option", "value", "problem"),
    [
        ("--piece-pause-ms", "5", "piece_pause_ms: must be >= 10, got 5"),
        ("--piece-delay-ms", "-1", "piece_delay_ms: must be 0..10000, got -1"),
    ],
)
def test_the_emulator_refuses_bad_piece_settings(
    option: str, value: str, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from bridge.cli import main

    assert main(["emulator", option, value]) != 0
    assert problem in capsys.readouterr().err


def test_demo_with_two_speakers_prints_lines_naming_each(
    run_virtual: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    from bridge.cli._demo_speakers import run_speakers

    async def demo() -> int:
        loop = asyncio.get_running_loop()
        return await run_speakers(BridgeConfig(), live=False, silence_ms=500, monotonic=loop.time)

    assert run_virtual(demo(), timeout_s=120) == 0
    out = capsys.readouterr().out
    lines = [line.strip() for line in out.splitlines() if line.startswith("  [")]
    # Alice's turn, Bob's, then both talking at once; each followed by the reply.
    assert [line.partition("]")[0] + "]" for line in lines] == [
        "[Alice]", "[gemini]", "[Bob]", "[gemini]", "[Alice, Bob]", "[gemini]"
    ], out  # fmt: skip
    assert "latency report" in out


@pytest.mark.parametrize(
    "argv", [["--speakers", "3"], ["--speakers", "2", "--via", "ntgcalls"], ["--speakers", "0"]]
)
def test_demo_refuses_speaker_counts_it_cannot_play(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from bridge.cli import main

    assert main(["demo", *argv]) == 2
    assert f"demo --speakers {argv[1]}: N is 1 or 2" in capsys.readouterr().err
