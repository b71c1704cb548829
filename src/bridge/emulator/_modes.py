"""The emulator's side of the session modes: translation setups, and transcripts that lag.

- A setup with `generationConfig.translationConfig` (the live-translate model) is checked
  as the service checks it, and its replies are marked as translations: every output
  transcription starts with the target language, e.g. "[fr] [echo 1.00 s]".
- `interim_words`: live captions show the configured `input_transcript` a word at a time
  (the name of the bot in it then shows before the turn ends).
- `input_transcript_lag_s`: the service's input transcription comes from its own
  recogniser and often arrives after the first reply audio; the emulator then sends it
  that long after the turn ended, while the reply streams.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from ..protocol import language_problem
from ._config import EmulatorConfig
from ._wire import WireError

_WHERE = "setup.generation_config.translation_config"


def check_translation(generation: dict[str, Any]) -> None:
    """Refuse (1007, naming the field) a translation setup the service would refuse."""
    translation = generation.get("translationConfig")
    if translation is None:
        return
    if not isinstance(translation, dict):
        raise WireError(f"Invalid value at '{_WHERE}'.")
    code = translation.get("targetLanguageCode")
    if language_problem(code):
        raise WireError(f"Invalid value at '{_WHERE}.target_language_code': {code!r}")
    echo = translation.get("echoTargetLanguage")
    if echo is not None and not isinstance(echo, bool):
        raise WireError(f"Invalid value at '{_WHERE}.echo_target_language': {echo!r}")


def caption(config: EmulatorConfig, spoken_s: float, n: int) -> str:
    """The `n`-th live caption of a turn: "[speaking 0.50 s]", or with `interim_words` the
    first `n` words of `input_transcript`, as a recogniser catching up would show them."""
    if config.interim_words and config.input_transcript:
        return " ".join(config.input_transcript.split()[:n])
    return f"[speaking {spoken_s:.2f} s]"


def as_spoken(setup: dict[str, Any], text: str) -> str:
    """An output transcription as this session's model says it: marked if translated."""
    translation = (setup.get("generationConfig") or {}).get("translationConfig")
    return f"[{translation['targetLanguageCode']}] {text}" if translation else text


async def send_input_transcript(
    send: Callable[[dict[str, Any]], Awaitable[None]], text: str, lag_s: float
) -> asyncio.Task[None] | None:
    """Send the turn's input transcription now, or `lag_s` later from the task returned
    (the reply awaits it before `generationComplete`, and cancels it if cut short)."""
    message = {"serverContent": {"inputTranscription": {"text": text, "finished": True}}}
    if lag_s <= 0:
        await send(message)
        return None

    async def later() -> None:
        await asyncio.sleep(lag_s)
        await send(message)

    return asyncio.get_running_loop().create_task(later())
