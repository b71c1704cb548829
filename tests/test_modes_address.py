"""Answer only when addressed: name matching, the reply gate, and what holding costs.

The gate is driven on its own with server events, then a real `Session` talks to the
emulator in virtual time: a turn that names the bot is played, one that does not is
never heard, and the first reply audio waits for a transcript that lags it by exactly
that lag (the latency table is printed with `-s`).
"""

from __future__ import annotations

import asyncio
import math
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import PacedWav, loop_clock
from google.genai import types

from bridge.cli import main
from bridge.config import BridgeConfig, ConfigError
from bridge.emulator import Emulator, EmulatorConfig
from bridge.engine import Session
from bridge.engine._address import Addressee, AddressGate
from bridge.engine._modes import addressed_instruction, bot_names
from bridge.engine._setup import live_config
from bridge.engine._stats import SessionCounters
from bridge.engine.events import Event, Transcript, TurnEnded, TurnStarted
from bridge.protocol import (
    GenerationComplete,
    InputTranscription,
    InterimInputTranscription,
    Interrupted,
    ModelAudio,
    OutputTranscription,
    ServerEvent,
    TurnComplete,
)
from bridge.transports.wav import read_audio

Run = Callable[..., Any]
SPEECH_WAV = Path(__file__).resolve().parents[1] / "src/bridge/data/speech-en-48k.wav"
SPEECH = read_audio(SPEECH_WAV, 48_000, 1)[: int(1.2 * 48_000) * 2]  # "Hello Gemini.": one turn


# -- names -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("transcript", "addressed"),
    [
        ("Gemini, what time is it?", True),
        ("what time is it, gemini", True),
        ("hey GEMINI!", True),
        ("Gémini are you there", True),  # accents do not matter
        ("ask gem about it", True),  # an alias
        ("спроси Джемини", True),  # an alias in another script, any case
        ("Джемини-бот", True),  # a hyphen is a word boundary
        ("the Geminids are tonight", False),  # a longer word is not the name
        ("gemini\u0301", True),  # a combining accent after the name is still the name
        ("what time is it", False),
        ("gemstone", False),
        ("", False),
    ],
)
def test_the_name_and_aliases_match_as_whole_words_in_any_case_or_accent(
    transcript: str, addressed: bool
) -> None:
    assert Addressee(["Gemini", "Gem", "ДЖЕМИНИ"]).addressed_in(transcript) is addressed


def test_a_name_of_several_words_matches_across_any_spacing() -> None:
    addressee = Addressee(["Ada Lovelace"])
    assert addressee.addressed_in("thanks ada\n  LOVELACE.")
    assert not addressee.addressed_in("ada, lovelace")
    with pytest.raises(ValueError, match="non-empty name"):
        Addressee(["  ", ""])


# -- the gate on its own ---------------------------------------------------------------


def audio(n: int) -> ModelAudio:
    return ModelAudio(bytes([n]) * 480, 24_000)


class Clock:
    now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


def gate() -> tuple[AddressGate, SessionCounters, Clock]:
    counters, clock = SessionCounters(), Clock()
    return AddressGate(Addressee(["Gemini"]), counters, clock), counters, clock


def feed(g: AddressGate, *events: ServerEvent) -> list[ServerEvent]:
    return [out for event in events for out in g.admit(event)]


def test_a_reply_is_held_until_the_transcript_names_the_bot_then_released_in_order() -> None:
    g, counters, clock = gate()
    held = feed(g, audio(1), OutputTranscription("It is"), audio(2))
    assert held == []
    clock.now_s = 0.25
    heard = InputTranscription("hey gem")
    assert feed(g, heard) == [heard]  # not yet the name
    more = InputTranscription("ini, the time?")
    assert feed(g, more) == [more, audio(1), OutputTranscription("It is"), audio(2)]
    # The rest of the reply goes straight through.
    assert feed(g, audio(3), GenerationComplete(), TurnComplete()) == [
        audio(3),
        GenerationComplete(),
        TurnComplete(),
    ]
    assert counters.replies_not_addressed == 0
    assert (counters.replies_held, counters.reply_hold_ms) == (1, 250)


def test_a_reply_to_a_turn_that_does_not_name_the_bot_is_dropped_whole() -> None:
    g, counters, _ = gate()
    heard = InputTranscription("what time is it", finished=True)
    assert feed(g, audio(1), heard, audio(2), OutputTranscription("noon")) == [heard]
    assert feed(g, GenerationComplete(), TurnComplete()) == [TurnComplete()]
    assert counters.replies_not_addressed == 1
    # The next turn is decided afresh.
    named = InputTranscription("Gemini?", finished=True)
    assert feed(g, named, audio(4), TurnComplete()) == [named, audio(4), TurnComplete()]
    assert counters.replies_not_addressed == 1


def test_a_turn_that_completes_before_its_transcript_is_not_played() -> None:
    g, counters, _ = gate()
    # No transcript at all (or one still coming): nothing of the reply is ever played.
    assert feed(g, audio(1), GenerationComplete(), TurnComplete()) == [TurnComplete()]
    late = InputTranscription("Gemini", finished=True)
    assert feed(g, late) == [late]  # the next turn's: the old reply is gone
    assert counters.replies_not_addressed == 1


def test_silence_after_an_unaddressed_turn_is_not_counted_as_a_dropped_reply() -> None:
    g, counters, _ = gate()
    # The model (proactive audio) kept quiet: nothing was dropped.
    feed(g, InputTranscription("chatting", finished=True), GenerationComplete(), TurnComplete())
    assert counters.replies_not_addressed == 0


def test_a_live_caption_naming_the_bot_decides_before_the_transcript() -> None:
    g, counters, clock = gate()
    early = InterimInputTranscription("hey")
    assert feed(g, early, audio(1)) == [early]  # no name yet: nothing decided
    clock.now_s = 0.1
    named = InterimInputTranscription("hey GEMINI what")
    assert feed(g, named, audio(2)) == [named, audio(1), audio(2)]
    # The final transcript (whatever it says) no longer decides this turn.
    final = InputTranscription("hey jim, what", finished=True)
    assert feed(g, final, audio(3)) == [final, audio(3)]
    assert (counters.replies_held, counters.reply_hold_ms, counters.replies_not_addressed) == (
        1,
        100,
        0,
    )


def test_a_reply_held_past_the_playout_limit_is_dropped_not_kept() -> None:
    counters = SessionCounters()
    g = AddressGate(Addressee(["Gemini"]), counters, Clock(), max_held_ms=100)
    ten_ms = ModelAudio(bytes(480), 24_000)
    assert feed(g, *[ten_ms] * 10) == []  # 100 ms held: the limit, not past it
    assert feed(g, ten_ms) == [] and counters.replies_not_addressed == 1
    named = InputTranscription("Gemini", finished=True)
    assert feed(g, named, ten_ms) == [named]  # too late: the reply was dropped


def test_an_interrupted_held_reply_is_forgotten() -> None:
    g, _, _ = gate()
    feed(g, audio(1), audio(2))
    assert feed(g, Interrupted()) == [Interrupted()]
    named = InputTranscription("Gemini", finished=True)
    assert feed(g, named, audio(5)) == [named, audio(5)]


def test_a_question_asked_again_after_a_drop_is_answered_without_a_transcript() -> None:
    g, counters, _ = gate()
    g.answer_next()
    assert feed(g, audio(1), TurnComplete()) == [audio(1), TurnComplete()]
    assert counters.replies_not_addressed == 0
    # Only that one reply: the next turn needs the name again.
    assert feed(g, audio(2), TurnComplete()) == [TurnComplete()]


# -- setup and configuration -----------------------------------------------------------


def addressed_config(url: str = "ws://127.0.0.1:1", **gemini: Any) -> BridgeConfig:
    return BridgeConfig().with_overrides(
        endpoint={"url": url},
        gemini={"respond": "when_addressed", **gemini},
        engine={"reconnect_base_delay_s": 0.05, "reconnect_max_delay_s": 0.2},
    )


def test_when_addressed_names_the_bot_and_asks_for_proactive_audio_if_it_is_a_setting() -> None:
    config = addressed_config(bot_name="Ada", bot_aliases=("Lovelace",))
    assert bot_names(config) == ("Ada", "Lovelace")
    setup = live_config(config).to_wire()
    instruction = setup["systemInstruction"]["parts"][0]["text"]
    assert instruction.startswith(BridgeConfig().gemini.system_instruction)
    assert "Your name is Ada (people may also call you Lovelace)" in instruction
    # gemini-3.8-live has proactive audio always on: the setup does not send it.
    assert "proactivity" not in setup
    older = live_config(addressed_config(model="gemini-2.5-flash-native-audio")).to_wire()
    assert older["proactivity"] == {"proactiveAudio": True}
    # The SDK's own setup type (which refuses unknown fields) reads it under those names.
    parsed = types.LiveClientSetup.model_validate(older)
    assert parsed.proactivity is not None and parsed.proactivity.proactive_audio is True
    assert "Your name is Gemini." in older["systemInstruction"]["parts"][0]["text"]
    # Answering always changes nothing.
    plain = live_config(BridgeConfig()).to_wire()
    assert "proactivity" not in plain and "Your name" not in str(plain)
    assert addressed_instruction("", ("Bo",)).startswith("Your name is Bo.")


def test_bad_respond_settings_are_refused_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"gemini\.respond: must be one of"):
        BridgeConfig.load(env={"BRIDGE_GEMINI_RESPOND": "sometimes"})
    with pytest.raises(ConfigError, match=r"gemini\.respond: when_addressed needs input_tr"):
        BridgeConfig.load(
            env={
                "BRIDGE_GEMINI_RESPOND": "when_addressed",
                "BRIDGE_GEMINI_INPUT_TRANSCRIPTION": "0",
            }
        )
    config = BridgeConfig.load(env={"BRIDGE_GEMINI_BOT_ALIASES": "Gem, Джемини"})
    assert config.gemini.bot_aliases == ("Gem", "Джемини")


def test_a_negative_transcript_lag_is_refused_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["emulator", "--input-transcript-lag-s", "-1"]) == 2
    assert "input_transcript_lag_s: must be >= 0.0, got -1.0" in capsys.readouterr().err


# -- against the emulator --------------------------------------------------------------


class Heard:
    """What the session published and what the transport played, with loop times."""

    def __init__(self, session: Session, transport: PacedWav) -> None:
        self.events: list[Event] = []
        session.add_listener(self.events.append)
        self.transport = transport
        self.reply_s: list[float] = []
        """Reply audio the emulator sent, per turn."""

    def of(self, kind: type) -> list[Any]:
        return [event for event in self.events if isinstance(event, kind)]


async def one_turn(
    emulator: EmulatorConfig, config: BridgeConfig, listen_s: float = 3.0
) -> tuple[Heard, dict[str, int], Any, Session]:
    async with Emulator(emulator) as emu:
        transport = PacedWav(SPEECH)
        config = config.with_overrides(endpoint={"url": emu.url})
        session = Session(config, transport, clock=loop_clock())
        heard = Heard(session, transport)
        async with session:
            await asyncio.sleep(listen_s)
        heard.reply_s = [t.reply_audio_bytes / 48_000 for t in emu.sessions[0].turns]
        return heard, session.counters, session.metrics(), session


def played_reply_samples(heard: Heard) -> int:
    out = np.frombuffer(heard.transport.heard_pcm(), dtype=np.int16)
    return int(np.count_nonzero(out))


def test_a_turn_that_names_the_bot_is_answered(run_virtual: Run) -> None:
    emulator = EmulatorConfig(input_transcript="Gemini, say that back", think_time_s=0.0)
    heard, counters, _, _ = run_virtual(one_turn(emulator, addressed_config()))
    assert len(heard.of(TurnStarted)) == 1
    (ended,) = heard.of(TurnEnded)
    assert not ended.interrupted and heard.reply_s == [pytest.approx(ended.heard_s)]
    assert counters["replies_not_addressed"] == 0
    assert played_reply_samples(heard) > 0


def test_a_turn_that_does_not_name_the_bot_is_never_heard(run_virtual: Run) -> None:
    emulator = EmulatorConfig(input_transcript="say that back", think_time_s=0.0)
    heard, counters, metrics, session = run_virtual(one_turn(emulator, addressed_config()))
    assert heard.of(TurnStarted) == [] and heard.of(TurnEnded) == []
    assert heard.reply_s[0] > 0.5  # the emulator did answer
    assert played_reply_samples(heard) == 0  # not one sample of the reply played
    assert session.downlink.pushed_samples == 0 and metrics.gauges["jitter_depth_ms"] == 0
    assert counters["replies_not_addressed"] == 1
    # What the user said is still posted; what the model would have said is not.
    said = heard.of(Transcript)
    assert [t.role for t in said] == ["user"] and said[-1].text == "say that back"


def test_the_same_turn_is_answered_when_the_bridge_answers_always(run_virtual: Run) -> None:
    emulator = EmulatorConfig(input_transcript="say that back", think_time_s=0.0)
    heard, counters, _, _ = run_virtual(one_turn(emulator, addressed_config(respond="always")))
    assert len(heard.of(TurnEnded)) == 1 and played_reply_samples(heard) > 0
    assert counters["replies_not_addressed"] == 0


def first_reply_delay(
    run_virtual: Run, respond: str, lag_s: float, think_s: float, captions: bool = False
) -> tuple[float, int]:
    """End of the user's speech → first reply frame played (virtual time, ms), and the
    session's `reply_hold_ms` counter. `captions`: live captions every 100 ms of speech,
    showing the transcript a word at a time."""
    emulator = EmulatorConfig(
        input_transcript="Gemini, say that back",
        input_transcript_lag_s=lag_s,
        think_time_s=think_s,
        interim_ms=100 if captions else None,
        interim_words=captions,
    )
    _, counters, metrics, _ = run_virtual(one_turn(emulator, addressed_config(respond=respond)))
    assert metrics.reply_latency_ms.count == 1
    return float(metrics.reply_latency_ms.max), counters["reply_hold_ms"]


def test_holding_delays_the_first_reply_audio_by_the_transcripts_lag_behind_it(
    run_virtual: Run,
) -> None:
    think_s = 0.3
    rows = []
    for lag_s in (0.0, 0.3, 0.5, 0.8, 1.2):
        always, _ = first_reply_delay(run_virtual, "always", lag_s, think_s)
        addressed, hold_ms = first_reply_delay(run_virtual, "when_addressed", lag_s, think_s)
        captioned, _ = first_reply_delay(run_virtual, "when_addressed", lag_s, think_s, True)
        added_ms = addressed - always
        rows.append((lag_s, always, addressed, added_ms, captioned - always))
        # The transcript arrives `lag_s` after the turn ended and the reply `think_s`
        # after: held audio waits for the difference, give or take a 10 ms frame, and
        # the session's own counter says so.
        expected_ms = max(0.0, lag_s - think_s) * 1e3
        assert math.isclose(added_ms, expected_ms, abs_tol=20.0), rows[-1]
        assert math.isclose(hold_ms, expected_ms, abs_tol=20.0), (hold_ms, rows[-1])
        # A live caption names the bot while the user still speaks: nothing is held.
        assert math.isclose(captioned, always, abs_tol=10.0), rows[-1]
    print("\ntranscript lag  always  when_addressed  added  added with captions (ms, virtual)")
    for lag_s, always, addressed, added_ms, captioned_ms in rows:
        print(
            f"{lag_s * 1e3:13.0f}  {always:6.0f}  {addressed:14.0f}  {added_ms:5.0f}  "
            f"{captioned_ms:19.0f}"
        )


def test_a_reply_cut_by_a_dropped_connection_is_asked_again_and_played(run_virtual: Run) -> None:
    async def scenario() -> list[Event]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        emulator = EmulatorConfig(
            port=port, speed=1.0, think_time_s=0.0, input_transcript="Gemini, say that back"
        )
        emu = Emulator(emulator)
        await emu.start()
        try:
            session = Session(addressed_config(emu.url), PacedWav(SPEECH), clock=loop_clock())
            events: list[Event] = []
            session.add_listener(events.append)
            async with session:
                while not any(isinstance(e, TurnStarted) for e in events):
                    await asyncio.sleep(0.01)
                await emu.stop()  # mid-reply
                await asyncio.sleep(0.3)
                await emu.start()
                # The question is asked again as text (no transcript to name the bot).
                while not any(isinstance(e, TurnEnded) and e.turn_id == 1 for e in events):
                    await asyncio.sleep(0.01)
        finally:
            await emu.stop()
        return events

    events = run_virtual(scenario(), timeout_s=20)
    ended = [e for e in events if isinstance(e, TurnEnded)]
    assert [e.turn_id for e in ended] == [0, 1] and ended[1].heard_s > 0.5
