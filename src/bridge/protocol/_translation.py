"""The setup of the live-translate model: speech in, the same speech in another language out.

On the wire (google-genai's `TranslationConfig`, under `generationConfig`):

    {"setup": {"model": "models/gemini-3.5-live-translate-preview",
               "generationConfig": {"responseModalities": ["AUDIO"],
                                    "translationConfig": {"targetLanguageCode": "fr",
                                                          "echoTargetLanguage": false}},
               ...}}

The model is an interpreter, not an assistant: it takes no system instruction and no
tools, so `LiveTranslateConfig` refuses both instead of sending what the service ignores.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ._config import LiveConfig
from .errors import ConfigError

# BCP-47 as the service uses it: a 2-3 letter language, an optional 4-letter script and an
# optional 2-letter or 3-digit region ("en", "pt-BR", "zh-Hant-TW", "es-419").
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z]{4})?(?:-(?:[A-Za-z]{2}|[0-9]{3}))?")


def language_problem(code: object) -> str | None:
    """Why `code` is not a BCP-47 language code, or None if it is one."""
    if isinstance(code, str) and _LANGUAGE.fullmatch(code):
        return None
    return f"{code!r} is not a BCP-47 language code (e.g. 'en', 'fr', 'pt-BR')"


@dataclass(frozen=True, slots=True)
class TranslationConfig:
    """What to translate into (`generationConfig.translationConfig`)."""

    target_language_code: str
    """BCP-47 code of the language the model speaks, e.g. "fr"."""
    echo_target_language: bool | None = None
    """True: speech already in the target language is repeated; False: it gets no audio."""

    def validate(self) -> None:
        """Raise `ConfigError` naming the field if a value is invalid."""
        problem = language_problem(self.target_language_code)
        if problem:
            raise ConfigError(f"translation.target_language_code: {problem}")
        if self.echo_target_language is not None and not isinstance(
            self.echo_target_language, bool
        ):
            raise ConfigError(
                "translation.echo_target_language: expected true or false, "
                f"got {self.echo_target_language!r}"
            )

    def to_wire(self) -> dict[str, Any]:
        """The `translationConfig` object."""
        out: dict[str, Any] = {"targetLanguageCode": self.target_language_code}
        if self.echo_target_language is not None:
            out["echoTargetLanguage"] = self.echo_target_language
        return out


@dataclass(frozen=True, slots=True)
class LiveTranslateConfig(LiveConfig):
    """A `LiveConfig` for the live-translate model, with its `translation` settings."""

    translation: TranslationConfig | None = None

    def validate(self) -> None:
        """Raise `ConfigError` naming the first invalid field."""
        LiveConfig.validate(self)
        if self.translation is None:
            raise ConfigError("translation: the live-translate model needs a target language")
        self.translation.validate()
        if self.system_instruction:
            raise ConfigError("system_instruction: the live-translate model takes none")
        if self.function_declarations or self.google_search:
            raise ConfigError("function_declarations: the live-translate model takes no tools")

    def to_wire(self, *, resumption_handle: str | None = None) -> dict[str, Any]:
        """The body of the `setup` message, translation settings included."""
        out = LiveConfig.to_wire(self, resumption_handle=resumption_handle)
        if self.translation is not None:
            out["generationConfig"]["translationConfig"] = self.translation.to_wire()
        return out
