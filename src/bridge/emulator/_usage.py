"""`usageMetadata` as the service bills a turn: audio by its duration, speech or silence."""

from __future__ import annotations

from typing import Any

from ._audio import REPLY_RATE_HZ

AUDIO_TOKENS_PER_S = 25
"""What the Live API bills per second of audio, input and output."""


def usage_metadata(audio_in_s: float, text: str | None, reply_audio_bytes: int) -> dict[str, Any]:
    """The report for a turn: `audio_in_s` of input audio received since the last report,
    the turn's `text` (a token per four characters) and the reply audio sent (24 kHz)."""
    audio_in = round(audio_in_s * AUDIO_TOKENS_PER_S)
    text_in = -(-len(text or "") // 4)
    audio_out = round(reply_audio_bytes / 2 / REPLY_RATE_HZ * AUDIO_TOKENS_PER_S)
    prompt: list[dict[str, Any]] = [{"modality": "AUDIO", "tokenCount": audio_in}]
    if text_in:
        prompt.append({"modality": "TEXT", "tokenCount": text_in})
    return {
        "promptTokenCount": audio_in + text_in,
        "responseTokenCount": audio_out,
        "totalTokenCount": audio_in + text_in + audio_out,
        "promptTokensDetails": prompt,
        "responseTokensDetails": [{"modality": "AUDIO", "tokenCount": audio_out}],
    }
