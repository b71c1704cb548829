"""A faithful local Gemini Live server: no network, no keys, real wire format.

Serves the real paths (`/ws/google.ai.generativelanguage.{v1,v1beta,v1alpha}.
GenerativeService.BidiGenerateContent[Constrained]`), sends server JSON in binary frames,
detects turns with an energy VAD that honours `automaticActivityDetection` (or manual
activityStart/activityEnd), echoes the user's turn (or a tone) as 24 kHz reply audio in
bursts, handles barge-in, tool calls, goAway and session resumption, and records every
session for tests. `EmulatorConfig.from_profile("realistic", time_scale=...)` adds what
the service does on long calls (10-min connections, the 15-min audio limit, the 58:00
deadline, slow pongs, bursty replies, live captions, setup checked against the SDK's
fields, random drops), with its durations compressed for tests.

    async with Emulator(EmulatorConfig(session_seconds=30)) as emu:
        print(emu.url)   # ws://127.0.0.1:PORT
"""

from __future__ import annotations

from ._audio import REPLY_RATE_HZ, resample_int16, tone
from ._config import EmulatorConfig, ReplyMode
from ._records import SessionRecord, TurnRecord
from ._server import Emulator

__all__ = [
    "REPLY_RATE_HZ",
    "Emulator",
    "EmulatorConfig",
    "ReplyMode",
    "SessionRecord",
    "TurnRecord",
    "resample_int16",
    "tone",
]
