"""The `[translate]` section: interpreter mode, the chat's session on the live-translate model.

```toml
[translate]
language = "fr"     # empty: the normal session; in a chat, /gemini translate <language> sets it
model = "gemini-3.5-live-translate-preview"
echo_target_language = false
```
"""

from __future__ import annotations

from dataclasses import dataclass

from ._settings import _nonempty, _setting
from .protocol import language_problem

__all__ = ["TranslateConfig"]


def _language(value: str) -> str | None:
    return language_problem(value) if value else None


@dataclass(frozen=True, slots=True)
class TranslateConfig:
    """Interpreter mode: what the live-translate model translates into, and which model."""

    language: str = _setting("", _language, "BCP-47 target, e.g. 'fr'; empty = off")
    model: str = _setting("gemini-3.5-live-translate-preview", _nonempty, "live-translate model")
    echo_target_language: bool = _setting(False, None, "repeat speech already in the target")
