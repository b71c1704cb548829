"""Token usage: the server's reports summed per session and per chat, and `/gemini usage`.

The sums are checked against reports built here (camelCase and snake_case, details per
modality, hostile values), and end to end: the emulator bills the audio it received, a
session's counters carry the sums, and a chat's admins read them with `/gemini usage`
(others are refused), through the account's message budget.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from _telegram_fakes import CHAT_ID, FakeCalls, FakeClient
from conftest import loop_clock
from test_telegram_runner import RATE_HZ, config_for, sine, speak

from bridge.emulator import Emulator, EmulatorConfig
from bridge.engine._usage import MAX_DETAIL_COUNTERS, TokenUsage
from bridge.engine.events import TurnEnded
from bridge.protocol import UsageMetadata
from bridge.telegram import AccessPolicy, TelegramRunner
from bridge.telegram._chat import usage_text


def report(prompt: int, response: int, **raw: Any) -> UsageMetadata:
    return UsageMetadata(prompt, response, prompt + response, raw)


def test_reports_are_summed_with_their_details_per_modality() -> None:
    usage = TokenUsage()
    usage.add(
        report(
            100,
            40,
            promptTokensDetails=[
                {"modality": "AUDIO", "tokenCount": 90},
                {"modality": "TEXT", "tokenCount": 10},
            ],
            responseTokensDetails=[{"modality": "AUDIO", "tokenCount": 40}],
            thoughtsTokenCount=7,
        )
    )
    # The SDK's own JSON spells the keys in snake_case.
    usage.add(
        report(
            50,
            5,
            prompt_tokens_details=[{"modality": "AUDIO", "token_count": 50}],
            cached_content_token_count=20,
        )
    )
    assert usage.reports == 2
    assert usage.as_dict() == {
        "prompt_tokens": 150,
        "response_tokens": 45,
        "total_tokens": 195,
        "prompt_tokens_audio": 140,
        "prompt_tokens_text": 10,
        "response_tokens_audio": 40,
        "thoughts_tokens": 7,
        "cached_tokens": 20,
    }


def test_malformed_or_hostile_details_never_make_counters() -> None:
    usage = TokenUsage()
    usage.add(
        report(
            1,
            1,
            promptTokensDetails=[
                {"modality": "AUDIO", "tokenCount": "12"},  # not an integer
                {"modality": "a b{c}", "tokenCount": 5},  # not a name a metric can carry
                {"modality": "TEXT", "tokenCount": -3},
                "AUDIO",
            ],
            responseTokensDetails={"modality": "AUDIO"},
            thoughtsTokenCount=True,
        )
    )
    # A server inventing a new modality per report cannot grow the counters without end.
    for index in range(200):
        usage.add(report(0, 0, promptTokensDetails=[{"modality": f"M{index}", "tokenCount": 1}]))
    counters = usage.as_dict()
    assert {"prompt_tokens": 1, "response_tokens": 1, "total_tokens": 2}.items() <= counters.items()
    assert len(counters) == 3 + MAX_DETAIL_COUNTERS
    assert not any(" " in name or "{" in name for name in counters)


def test_the_usage_answer_names_audio_seconds_and_tokens() -> None:
    text = usage_text(
        {
            "call_ms": 600_000,
            "uplink_audio_sent_ms": 150_500,
            "prompt_tokens": 3_800,
            "prompt_tokens_audio": 3_763,
            "prompt_tokens_text": 37,
            "response_tokens": 1_250,
            "response_tokens_audio": 1_250,
            "total_tokens": 5_050,
        }
    )
    assert text.splitlines() == [
        "Gemini usage in this chat since the bridge started:",
        "audio sent 150.5 s of 600.0 s of call (25 %)",
        "tokens: prompt 3,800 (audio 3,763, text 37), response 1,250 (audio 1,250), total 5,050",
    ]
    assert usage_text(None) == "Gemini has not been live in this chat since the bridge started."


def test_admins_read_a_chats_usage_and_others_are_refused(run_virtual: Any) -> None:
    async def scenario() -> tuple[FakeClient, dict[str, int], list[int]]:
        calls, client = FakeCalls(), FakeClient()
        async with Emulator(EmulatorConfig(think_time_s=0.0)) as emulator:
            runner = TelegramRunner(
                client,
                calls,
                config_for(emulator),
                access=AccessPolicy([55]),
                voice_notes=False,
                clock=loop_clock(),
            )
            runner.install_handlers()
            bridge = await runner.go_live(CHAT_ID)
            assert bridge.session is not None
            answered = asyncio.Event()
            bridge.session.add_listener(
                lambda event: answered.set() if isinstance(event, TurnEnded) else None
            )
            said = [np.zeros(RATE_HZ // 2, np.int16), sine(200, RATE_HZ * 6 // 10, 0.5)]
            await speak(calls, {1001: np.concatenate([*said, np.zeros(RATE_HZ, np.int16)])})
            await answered.wait()
            await asyncio.sleep(0.3)  # the usage report follows the turn's end
            turns: list[int] = []  # the budget's turns taken by commands
            take_turn = runner.budget.turn

            async def turn(chat: int) -> None:
                turns.append(chat)
                await take_turn(chat)

            runner.budget.turn = turn  # type: ignore[method-assign,assignment]
            for user_id in (7, 1):  # a member, then an admin
                await client.deliver(client.command("/gemini usage", user_id))
                await runner.drain()
            usage = bridge.usage()
            await runner.stop()
            assert bridge.usage() == usage  # kept once the session has ended
            return client, usage, turns

    client, usage, turns = run_virtual(scenario(), timeout_s=30)
    refused, answer = client.replies
    assert refused == "Only group admins (or allowlisted users) can do that."
    assert answer == usage_text(usage)
    # The emulator billed 25 tokens a second of the audio the gate let through: the
    # 0.6 s of speech with its 0.4 s pre-roll and 0.6 s hangover, not the silence.
    sent_s = usage["uplink_audio_sent_ms"] / 1000
    assert 1.4 < sent_s < 1.8 and usage["call_ms"] > 2000
    assert usage["prompt_tokens_audio"] == pytest.approx(25 * sent_s, abs=2)
    assert usage["response_tokens"] > 0 and turns == [CHAT_ID]
