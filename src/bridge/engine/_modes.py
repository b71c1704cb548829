"""The session's mode, applied to its Live setup: answer only when addressed, or interpret.

- `respond = "when_addressed"` (gemini section): the system instruction names the bot and
  asks it to stay silent unless addressed, and proactive audio (`proactivity.proactiveAudio`,
  which lets the model not answer at all) is switched on where it is an option. On
  gemini-3.8-live it is always on and not a setting, so nothing is sent for it there:
  a setting a model does not take risks a refused setup (as `thinkingLevel` is refused by
  that model) and gains nothing. The bridge checks the addressing itself too
  (`_address.AddressGate`): proactivity is the model's judgement, the gate is a rule.
- `[translate] language` set: the session runs on the live-translate model with
  `generationConfig.translationConfig`, and keeps only what that model takes: audio out,
  both transcriptions, turn detection, resumption and compression.
"""

from __future__ import annotations

import dataclasses

from ..config import BridgeConfig
from ..protocol import GenerationConfig, LiveConfig, LiveTranslateConfig, TranslationConfig

DEFAULT_BOT_NAME = "Gemini"
ALWAYS_PROACTIVE_MODELS = ("gemini-3.8-live",)
"""Models with proactive audio always on (Google's model page): nothing to send."""


def bot_names(config: BridgeConfig) -> tuple[str, ...]:
    """The bot's name (first) and aliases, as `when_addressed` matches them."""
    gemini = config.gemini
    names = (gemini.bot_name.strip() or DEFAULT_BOT_NAME, *gemini.bot_aliases)
    return tuple(name.strip() for name in names if name.strip())


def addressed_instruction(instruction: str, names: tuple[str, ...]) -> str:
    """`instruction` plus who the bot is and when it speaks."""
    name, *aliases = names
    also = f" (people may also call you {', '.join(aliases)})" if aliases else ""
    rule = (
        f"Your name is {name}{also}. Several people talk in this voice chat, mostly to each "
        f"other. Answer only when someone addresses you by name; otherwise stay silent."
    )
    return f"{instruction.strip()}\n\n{rule}" if instruction.strip() else rule


def proactive_audio(model: str) -> bool | None:
    """`proactivity.proactiveAudio` to send for `model`: None where it is always on."""
    name = model.strip().removeprefix("models/")
    return None if name.startswith(ALWAYS_PROACTIVE_MODELS) else True


def apply_mode(live: LiveConfig, config: BridgeConfig) -> LiveConfig:
    """`live` as the configured mode wants it (unchanged for `respond = "always"`)."""
    translate = config.translate
    if translate.language:
        return LiveTranslateConfig(
            model=translate.model,
            generation=GenerationConfig(response_modalities=("AUDIO",)),
            realtime_input=live.realtime_input,
            session_resumption=live.session_resumption,
            context_window_compression=live.context_window_compression,
            input_transcription=live.input_transcription,
            output_transcription=live.output_transcription,
            translation=TranslationConfig(translate.language, translate.echo_target_language),
        )
    if config.gemini.respond == "when_addressed":
        return dataclasses.replace(
            live,
            system_instruction=addressed_instruction(
                live.system_instruction or "", bot_names(config)
            ),
            proactive_audio=proactive_audio(live.model),
        )
    return live
