"""The bridge's configuration: one typed tree read from a TOML file and the environment.

```toml
[gemini]                       # the Live session (maps onto bridge.protocol.LiveConfig)
model = "gemini-3.8-live"
voice = "Puck"
system_instruction = "You are a helpful voice assistant in a Telegram group call."
[endpoint]                     # where to connect, and how to authenticate
url = "wss://generativelanguage.googleapis.com"
api_key = "..."                # better: the GEMINI_API_KEY environment variable
[engine]
uplink_chunk_ms = 20           # 20, 40 or 60
jitter_target_ms = 40
[transport]
sample_rate_hz = 48000
channels = 2
```

Every key may also come from the environment as `BRIDGE_<SECTION>_<KEY>` (for example
`BRIDGE_ENGINE_UPLINK_CHUNK_MS=40`), and a few well-known names are honoured:
`GEMINI_API_KEY`, `GOOGLE_API_KEY`, `GEMINI_MODEL`, `GEMINI_VOICE`, `GEMINI_URL`,
`GEMINI_EPHEMERAL_TOKEN`. The environment wins over the file. Every value is validated and
a bad one raises `InvalidSetting` naming the key (and where it came from). Secrets are held
in `Secret`, so the tree's repr never shows them.

`InvalidSetting` is a `bridge.protocol.ConfigError` (re-exported here as `ConfigError`), so
`except ConfigError` or `except BridgeError` catches every configuration problem, whether
found while reading this tree or while building the Live setup from it.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self

from ._ops_settings import DrainConfig, HttpConfig
from ._secret import Secret
from ._settings import Check, InvalidSetting, _convert, _nonempty, _one_of, _range, _setting, _url
from ._tools_settings import ToolsConfig
from ._translate import TranslateConfig
from .protocol.errors import ConfigError

__all__ = [
    "BridgeConfig",
    "ConfigError",
    "EndpointConfig",
    "EngineConfig",
    "GeminiConfig",
    "InvalidSetting",
    "MetricsConfig",
    "TelegramConfig",
    "ToolsConfig",
    "TranslateConfig",
    "TransportConfig",
]


@dataclass(frozen=True, slots=True)
class GeminiConfig:
    """What the Live session is: model, voice, instructions, transcription, detection."""

    model: str = _setting("gemini-3.8-live", _nonempty, "model name, without 'models/'")
    voice: str = _setting("Puck", _nonempty, "prebuilt voice name")
    language_code: str = _setting("", None, "speech language, e.g. 'en-US'; empty = auto")
    system_instruction: str = _setting(
        "You are a helpful voice assistant in a Telegram group voice chat. Answer briefly.",
    )
    temperature: float | None = _setting(None, None, "sampling temperature")
    input_transcription: bool = _setting(True, None, "transcribe what users say")
    output_transcription: bool = _setting(True, None, "transcribe what the model says")
    automatic_activity_detection: bool = _setting(True, None, "server-side VAD")
    session_resumption: bool = _setting(True, None, "ask for resumption handles")
    context_compression_tokens: int = _setting(
        32_000, _range(0, 10_000_000), "compression trigger; 0 = off (audio sessions end at 15 min)"
    )
    context_compression_target_tokens: int = _setting(16_000, _range(1, 10_000_000), "kept")
    respond: str = _setting("always", _one_of("always", "when_addressed"), "or only when named")
    bot_name: str = _setting("", None, "when_addressed: empty = the account's first name (run)")
    bot_aliases: tuple[str, ...] = _setting((), None, "other names the bot answers to")


@dataclass(frozen=True, slots=True)
class EndpointConfig:
    """Where the Live API is and how to authenticate to it."""

    url: str = _setting("wss://generativelanguage.googleapis.com", _url)
    api_version: str = _setting(
        "", _one_of("", "v1", "v1beta", "v1alpha"), "empty: v1beta for keys, v1alpha for tokens"
    )
    api_key: Secret | None = _setting(None, None, "GEMINI_API_KEY")  # noqa: RUF009 (_setting returns a dataclass field)
    ephemeral_token: Secret | None = _setting(None, None, "an auth_tokens/... token")  # noqa: RUF009 (_setting returns a dataclass field)
    connect_timeout_s: float = _setting(10.0, _range(0.1, 300.0))


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Uplink chunking, playout, reconnection, local VAD."""

    uplink_chunk_ms: int = _setting(20, _one_of(20, 40, 60), "audio per realtimeInput message")
    jitter_target_ms: int = _setting(40, _range(10, 1000), "playout buffer aimed for")
    jitter_max_ms: int = _setting(120_000, _range(100, 600_000), "model audio held at most")
    ring_capacity_s: float = _setting(
        30.0, _range(0.5, 600.0), "uplink audio held while reconnecting"
    )
    resume_margin_s: float = _setting(
        5.0, _range(0.0, 60.0), "resume at the latest this long before goAway's timeLeft"
    )
    reconnect_max_attempts: int = _setting(8, _range(1, 1000))
    reconnect_base_delay_s: float = _setting(0.2, _range(0.0, 60.0))
    reconnect_max_delay_s: float = _setting(10.0, _range(0.0, 600.0))
    reconnect_cool_down_s: float = _setting(30.0, _range(30.0, 3600.0), "run: after the budget")
    liveness_timeout_s: float = _setting(60.0, _range(35.0, 600.0), "no message, no pong: dead")
    vad_duck: bool = _setting(False, None, "duck bot output when a user starts speaking")
    vad_threshold_dbfs: float = _setting(-35.0, _range(-90.0, 0.0))
    vad_duck_gain: float = _setting(0.25, _range(0.0, 1.0), "output gain while ducked")
    local_barge_in_ms: int = _setting(
        300,
        _range(0, 5000),
        "user speech this long stops a reply already fully received (the server will not "
        "send interrupted for it); 0 = off",
    )
    speaker_idle_ms: int = _setting(200, _range(20, 10_000), "forget a silent ssrc after this")
    uplink_gate: bool = _setting(True, None, "send the uplink only while someone speaks")
    uplink_pre_roll_ms: int = _setting(400, _range(300, 5000), "gate: audio sent before speech")
    uplink_hangover_ms: int = _setting(
        600, _range(300, 10_000), "gate: quiet sent after speech (>= the server's silence)"
    )
    uplink_pause_ms: int = _setting(
        1000, _range(300, 10_000), "gate: quiet after speech before audioStreamEnd"
    )
    transcript_lag_ms: int = _setting(0, _range(0, 5000),
        "how far input transcription runs behind the audio (names speakers)")  # fmt: skip


@dataclass(frozen=True, slots=True)
class TransportConfig:
    """The audio endpoint's frame format."""

    sample_rate_hz: int = _setting(48_000, _one_of(8_000, 16_000, 24_000, 48_000))
    channels: int = _setting(1, _one_of(1, 2))


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    """How much latency history each session keeps for its percentiles."""

    histogram_capacity: int = _setting(65_536, _range(64, 10_000_000), "samples kept")


@dataclass(frozen=True, slots=True)
class TelegramConfig:
    """The Telegram account that joins the voice chat (a user account: bots cannot)."""

    api_id: int = _setting(0, _range(0, 2**31 - 1), "from my.telegram.org; 0 = unset")
    api_hash: Secret | None = _setting(None, None, "from my.telegram.org")  # noqa: RUF009 (_setting returns a dataclass field)
    session_string: Secret | None = _setting(None, None, "a pyrogram session string")  # noqa: RUF009 (_setting returns a dataclass field)
    allow: tuple[str, ...] = _setting(
        (), None, "user ids or @usernames who may use /gemini and /stop, besides admins"
    )
    admins: bool = _setting(True, None, "group admins may use /gemini and /stop")
    voice_notes: str = _setting("allowlist", _one_of("allowlist", "contacts", "anyone"),
        "who gets a reply to a private voice note (groups: the /gemini rule)")  # fmt: skip
    voice_note_concurrency: int = _setting(2, _range(1, 64), "voice notes answered at once")
    speaker_names: bool = _setting(True, None, "transcripts name who spoke (🗣 Alice: ...)")
    captions: bool = _setting(False, None, "edit each turn's message as people speak; "
        "ignored in groups with slow mode")  # fmt: skip


# Applied in this order, so a later name wins: GEMINI_API_KEY over GOOGLE_API_KEY (google-genai
# prefers GOOGLE_API_KEY; the bridge follows its own docs, which name GEMINI_API_KEY).
_ENV_ALIASES: dict[str, tuple[str, str]] = {
    "GOOGLE_API_KEY": ("endpoint", "api_key"),
    "GEMINI_API_KEY": ("endpoint", "api_key"),
    "GEMINI_EPHEMERAL_TOKEN": ("endpoint", "ephemeral_token"),
    "GEMINI_URL": ("endpoint", "url"),
    "GEMINI_MODEL": ("gemini", "model"),
    "GEMINI_VOICE": ("gemini", "voice"),
    "TELEGRAM_API_ID": ("telegram", "api_id"),
    "TELEGRAM_API_HASH": ("telegram", "api_hash"),
    "TELEGRAM_SESSION": ("telegram", "session_string"),
}
_ENV_PREFIX = "BRIDGE_"


@dataclass(frozen=True, slots=True)
class BridgeConfig:
    """The whole configuration tree. Build it with `BridgeConfig.load()` or directly."""

    gemini: GeminiConfig = field(default_factory=GeminiConfig)
    endpoint: EndpointConfig = field(default_factory=EndpointConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    transport: TransportConfig = field(default_factory=TransportConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    telegram: TelegramConfig = field(default_factory=TelegramConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    drain: DrainConfig = field(default_factory=DrainConfig)
    tools: ToolsConfig = field(default_factory=ToolsConfig)
    translate: TranslateConfig = field(default_factory=TranslateConfig)

    def __post_init__(self) -> None:
        for section in dataclasses.fields(self):
            value = getattr(self, section.name)
            for f in dataclasses.fields(value):
                _validate(f"{section.name}.{f.name}", f, getattr(value, f.name), "")
        if self.gemini.respond == "when_addressed" and not self.gemini.input_transcription:
            raise InvalidSetting("gemini.respond", "when_addressed needs input_transcription")
        if self.engine.reconnect_max_delay_s < self.engine.reconnect_base_delay_s:
            raise InvalidSetting(
                "engine.reconnect_max_delay_s", "must not be below reconnect_base_delay_s"
            )
        if self.engine.uplink_hangover_ms > self.engine.uplink_pause_ms:
            raise InvalidSetting("engine.uplink_hangover_ms", "must not exceed uplink_pause_ms")

    @classmethod
    def load(cls, path: str | None = None, env: Mapping[str, str] | None = None) -> Self:
        """Read `path` (TOML; None = defaults only), then apply the environment.

        Raises `ConfigError` naming the offending key for unknown keys, wrong types and
        out-of-range values; a missing or unparsable file is a `ConfigError` too.
        """
        env = os.environ if env is None else env
        raw: dict[str, dict[str, tuple[Any, str]]] = {}
        if path is not None:
            try:
                with open(path, "rb") as fh:
                    document = tomllib.load(fh)
            except FileNotFoundError:
                raise InvalidSetting("config file", f"{path!r} does not exist") from None
            except tomllib.TOMLDecodeError as exc:
                raise InvalidSetting("config file", f"{path!r} is not valid TOML: {exc}") from None
            for section, table in document.items():
                if not isinstance(table, dict):
                    raise InvalidSetting(section, "must be a [table]", path)
                for key, value in table.items():
                    raw.setdefault(section, {})[key] = (value, path)
        for name, (section, key) in _ENV_ALIASES.items():
            if env.get(name):
                raw.setdefault(section, {})[key] = (env[name], f"${name}")
        for name, value in env.items():
            if not name.startswith(_ENV_PREFIX):
                continue
            rest = name[len(_ENV_PREFIX) :].lower()
            section, _, key = rest.partition("_")
            if section in _SECTIONS and key:
                raw.setdefault(section, {})[key] = (value, f"${name}")
        return cls._from_raw(raw)

    @classmethod
    def _from_raw(cls, raw: dict[str, dict[str, tuple[Any, str]]]) -> Self:
        sections: dict[str, Any] = {}
        for section, values in raw.items():
            section_type = _SECTIONS.get(section)
            if section_type is None:
                source = next(iter(values.values()))[1] if values else ""
                raise InvalidSetting(
                    section, f"unknown section; known: {sorted(_SECTIONS)}", source
                )
            hints = typing.get_type_hints(section_type)
            fields_by_name = {f.name: f for f in dataclasses.fields(section_type)}
            kwargs: dict[str, Any] = {}
            for key, (value, source) in values.items():
                full_key = f"{section}.{key}"
                if key not in fields_by_name:
                    raise InvalidSetting(
                        full_key, f"unknown key; known: {sorted(fields_by_name)}", source
                    )
                converted = _convert(full_key, hints[key], value, source)
                _validate(full_key, fields_by_name[key], converted, source)
                kwargs[key] = converted
            sections[section] = section_type(**kwargs)
        return cls(**sections)

    def with_overrides(self, **sections: Mapping[str, Any]) -> BridgeConfig:
        """A copy with some keys replaced, e.g. `cfg.with_overrides(endpoint={"url": u})`."""
        replaced: dict[str, Any] = {}
        for section, values in sections.items():
            current = getattr(self, section, None)
            if current is None:
                raise InvalidSetting(section, f"unknown section; known: {sorted(_SECTIONS)}")
            known = {f.name for f in dataclasses.fields(current)}
            for key in values:
                if key not in known:
                    raise InvalidSetting(f"{section}.{key}", f"unknown key; known: {sorted(known)}")
            replaced[section] = dataclasses.replace(current, **values)
        return dataclasses.replace(self, **replaced)

    def describe(self) -> dict[str, dict[str, str]]:
        """Every key with its value as text (secrets masked), e.g. to log what is in effect."""
        return {
            section.name: {
                f.name: str(getattr(getattr(self, section.name), f.name))
                for f in dataclasses.fields(getattr(self, section.name))
            }
            for section in dataclasses.fields(self)
        }


_SECTIONS: dict[str, type] = {
    "gemini": GeminiConfig,
    "endpoint": EndpointConfig,
    "engine": EngineConfig,
    "transport": TransportConfig,
    "metrics": MetricsConfig,
    "telegram": TelegramConfig,
    "http": HttpConfig,
    "drain": DrainConfig,
    "tools": ToolsConfig,
    "translate": TranslateConfig,
}


def _validate(key: str, f: dataclasses.Field[Any], value: Any, source: str) -> None:
    check: Check | None = f.metadata.get("check")
    if check is None or value is None:
        return
    problem = check(value)
    if problem:
        raise InvalidSetting(key, problem, source)
