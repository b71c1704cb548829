"""Settings of the local Gemini Live emulator."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from .._secret import Secret
from ..protocol.errors import ConfigError

ReplyMode = Literal["echo", "tone"]


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    """How the emulator listens, authenticates, detects turns and paces its replies.

    Reply audio is sent in bursts: `burst_chunks` messages of `chunk_ms` each back to back,
    then a pause so that on average audio leaves at `speed` x real time (`speed < 1`
    reproduces a model slower than real time, i.e. playout underruns).
    """

    host: str = "127.0.0.1"
    port: int = 0
    """0 picks a free port; read the actual one from `Emulator.url`."""
    api_key: Secret | None = None
    """When set, connections must present this key (or one of `tokens`), else close 1007."""
    tokens: tuple[Secret, ...] = ()
    """Ephemeral tokens ("auth_tokens/...") accepted on BidiGenerateContentConstrained."""
    models: tuple[str, ...] = ()
    """Known model names (without "models/"); empty accepts any model. Unknown → close 1008."""
    max_sessions: int | None = None
    """Concurrent connections allowed; more are refused with HTTP 429."""
    session_seconds: float | None = None
    """Connection lifetime: goAway is sent `go_away_s` before it ends, then close 1008."""
    go_away_s: float = 1.0
    reply: ReplyMode = "echo"
    """echo: the user's turn audio resampled to 24 kHz; tone: a sine of `tone_s` seconds."""
    tone_hz: float = 440.0
    tone_s: float = 1.0
    think_time_s: float = 0.05
    """Delay between the end of the user's turn and the first reply chunk."""
    chunk_ms: int = 40
    """Reply audio per inlineData message."""
    burst_chunks: int = 5
    speed: float = 4.0
    """Average reply pacing relative to real time (> 1 faster, < 1 slower)."""
    prefix_padding_ms: int = 20
    """VAD default when setup does not set prefixPaddingMs: speech needed to start a turn."""
    silence_duration_ms: int = 500
    """VAD default when setup does not set silenceDurationMs: silence that ends a turn."""
    input_transcript: str | None = None
    """Text of every inputTranscription; None sends an honest "[speech 1.40 s]"."""
    tool_on_audio_turn: str | None = None
    """Declared function to call after every audio turn (text turns that name one call it)."""
    resumption_handles: bool = True
    """Send sessionResumptionUpdate after setup and after each turn."""
    max_message_bytes: int = 8 * 1024 * 1024
    setup_timeout_s: float = 10.0
    certfile: str | None = None
    keyfile: str | None = None

    def validate(self) -> None:
        """Raise `ConfigError` for an invalid setting."""
        if not self.host:
            raise ConfigError(f"host: expected an address, got {self.host!r}")
        if self.api_key is not None and not isinstance(self.api_key, Secret):
            raise ConfigError("api_key: wrap the key in bridge.Secret")
        if not all(isinstance(token, Secret) for token in self.tokens):
            raise ConfigError("tokens: wrap each token in bridge.Secret")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port: must be 0..65535, got {self.port}")
        if self.reply not in ("echo", "tone"):
            raise ConfigError(f"reply: expected 'echo' or 'tone', got {self.reply!r}")
        checks = (
            ("go_away_s", self.go_away_s, 0.0),
            ("tone_hz", self.tone_hz, 1.0),
            ("tone_s", self.tone_s, 0.0),
            ("think_time_s", self.think_time_s, 0.0),
            ("setup_timeout_s", self.setup_timeout_s, 0.001),
        )
        for name, value, low in checks:
            if not math.isfinite(value) or value < low:
                raise ConfigError(f"{name}: must be >= {low}, got {value!r}")
        if self.session_seconds is not None and not (
            math.isfinite(self.session_seconds) and self.session_seconds > self.go_away_s
        ):
            raise ConfigError(
                f"session_seconds: must exceed go_away_s ({self.go_away_s}), "
                f"got {self.session_seconds!r}"
            )
        if not math.isfinite(self.speed) or self.speed <= 0:
            raise ConfigError(f"speed: must be > 0, got {self.speed!r}")
        if self.chunk_ms < 10 or self.chunk_ms % 10:
            raise ConfigError(f"chunk_ms: must be a positive multiple of 10, got {self.chunk_ms}")
        if self.burst_chunks < 1:
            raise ConfigError(f"burst_chunks: must be >= 1, got {self.burst_chunks}")
        if self.prefix_padding_ms < 0 or self.silence_duration_ms < 10:
            raise ConfigError("prefix_padding_ms must be >= 0 and silence_duration_ms >= 10")
        if (self.certfile is None) != (self.keyfile is None):
            raise ConfigError("certfile and keyfile go together")
        if self.max_sessions is not None and self.max_sessions < 1:
            raise ConfigError(f"max_sessions: must be >= 1, got {self.max_sessions}")
