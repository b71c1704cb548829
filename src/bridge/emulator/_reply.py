"""Streaming reply audio the way the service does: in bursts, faster or slower than real time."""

from __future__ import annotations

import asyncio
import binascii
import random
from collections.abc import Awaitable, Callable
from typing import Any

from ._audio import REPLY_RATE_HZ
from ._config import EmulatorConfig
from ._lifetime import sleep_until
from ._records import TurnRecord

_REPLY_MIME = f"audio/pcm;rate={REPLY_RATE_HZ}"


async def stream_audio(
    send: Callable[[dict[str, Any]], Awaitable[None]],
    audio: bytes,
    turn: TurnRecord,
    config: EmulatorConfig,
    rng: random.Random,
) -> None:
    """Send `audio` in bursts of `burst_chunks` messages; each burst is paced at `speed`
    x real time, or at a speed drawn from `speed_range`."""
    chunk_bytes = REPLY_RATE_HZ * config.chunk_ms // 1000 * 2
    start_s = asyncio.get_running_loop().time()
    sent_s = paced_s = due_s = 0.0
    for index, offset in enumerate(range(0, len(audio), chunk_bytes)):
        chunk = audio[offset : offset + chunk_bytes]
        data = binascii.b2a_base64(chunk, newline=False).decode()
        part = {"inlineData": {"mimeType": _REPLY_MIME, "data": data}}
        await send({"serverContent": {"modelTurn": {"parts": [part]}}})
        turn.reply_audio_bytes += len(chunk)
        sent_s += len(chunk) / 2 / REPLY_RATE_HZ
        if (index + 1) % config.burst_chunks == 0:
            speed = rng.uniform(*config.speed_range) if config.speed_range else config.speed
            due_s, paced_s = due_s + (sent_s - paced_s) / speed, sent_s
            await sleep_until(start_s + due_s)
