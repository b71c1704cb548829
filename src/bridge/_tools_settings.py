"""The `[tools]` section: how the model treats each tool's calls, and what the chat sees.

```toml
[tools]
behavior = ["post_message=NON_BLOCKING", "calculate=BLOCKING"]
scheduling = ["post_message=SILENT", "current_time=WHEN_IDLE"]
disabled = ["post_message"]    # tools not offered to the model
slow_notice_s = 4.0            # a blocking call this slow gets a notice in the chat
post_results = false           # post each tool's result in the chat
```

Per-tool values are `NAME=VALUE` entries of a list, so they fit TOML and one environment
variable each (`BRIDGE_TOOLS_BEHAVIOR="post_message=NON_BLOCKING,calculate=BLOCKING"`).
Values are google-genai's enum names (`types.Behavior`, `types.FunctionResponseScheduling`).
Tool names are checked when the registry is built (`ToolsConfig.apply`): a name no tool of
the bridge has is an error; one of a tool this mode does not offer (the Telegram tools in
the demo) is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._settings import Check, InvalidSetting, _range, _setting, _shown
from .protocol import Behavior, Scheduling
from .protocol._config import BEHAVIORS
from .protocol._events import SCHEDULINGS
from .tools import ToolRegistry
from .tools._registry import NAME_PATTERN

__all__ = ["ToolsConfig"]


def _assignments(allowed: frozenset[str]) -> Check:
    def check(entries: tuple[str, ...]) -> str | None:
        seen: set[str] = set()
        for entry in entries:
            name, equals, value = entry.partition("=")
            name, value = name.strip(), value.strip()
            if not equals or not NAME_PATTERN.match(name) or value not in allowed:
                return f"entry {_shown(entry)} must be NAME=one of {sorted(allowed)}"
            if name in seen:
                return f"tool {name!r} is named twice"
            seen.add(name)
        return None

    return check


def _names(entries: tuple[str, ...]) -> str | None:
    for entry in entries:
        if not NAME_PATTERN.match(entry):
            return f"entry {_shown(entry)} is not a tool name"
    return None


def _table(entries: tuple[str, ...]) -> dict[str, str]:
    return {
        name.strip(): value.strip()
        for name, _, value in (entry.partition("=") for entry in entries)
    }


@dataclass(frozen=True, slots=True)
class ToolsConfig:
    """Per-tool behaviour and scheduling overrides; slow-call notices; results in the chat."""

    behavior: tuple[str, ...] = _setting(
        (), _assignments(BEHAVIORS), "NAME=BLOCKING or NAME=NON_BLOCKING, per tool"
    )
    scheduling: tuple[str, ...] = _setting(
        (), _assignments(SCHEDULINGS), "NAME=SILENT|WHEN_IDLE|INTERRUPT (NON_BLOCKING tools)"
    )
    disabled: tuple[str, ...] = _setting((), _names, "tools not offered to the model")
    slow_notice_s: float = _setting(
        4.0, _range(0.0, 600.0), "a call the model waits on this long gets a chat notice; 0 = off"
    )
    post_results: bool = _setting(False, None, "post each tool's result in the chat")
    post_max_chars: int = _setting(500, _range(1, 4096), "longest text post_message sends")
    post_interval_s: float = _setting(
        20.0, _range(0.0, 3600.0), "post_message at most once per this, per chat"
    )

    def apply(self, tools: ToolRegistry, *, known: frozenset[str] = frozenset()) -> ToolRegistry:
        """A copy of `tools` without the disabled ones, with the overrides set.

        A name that is neither in `tools` nor in `known` (the bridge's tools this mode does
        not offer) raises `InvalidSetting` naming the key.
        """
        out = tools.copy()
        behaviors: dict[str, Any] = _table(self.behavior)
        schedulings: dict[str, Any] = _table(self.scheduling)
        for key, names in (
            ("tools.disabled", self.disabled),
            ("tools.behavior", behaviors),
            ("tools.scheduling", schedulings),
        ):
            for name in names:
                if name not in tools and name not in known:
                    offered = sorted({tool.name for tool in tools} | known)
                    raise InvalidSetting(key, f"no tool named {name!r}; tools: {offered}")
        for name in self.disabled:
            if name in out:
                out.remove(name)
        for name in behaviors.keys() | schedulings.keys():
            if name not in out:
                continue
            behavior: Behavior | None = behaviors.get(name)
            scheduling: Scheduling | None = schedulings.get(name)
            out.configure(name, behavior=behavior, scheduling=scheduling)
        return out
