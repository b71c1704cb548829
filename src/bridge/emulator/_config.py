"""Settings of the local Gemini Live emulator."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Literal

from .._secret import Secret
from ..protocol.errors import ConfigError

ReplyMode = Literal["echo", "tone"]
Profile = Literal["basic", "realistic"]
PROFILES: tuple[Profile, ...] = ("basic", "realistic")


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    """How the emulator listens, authenticates, detects turns and paces its replies.

    Reply audio is sent in bursts: `burst_chunks` messages of `chunk_ms` each back to back,
    then a pause so that on average audio leaves at `speed` x real time (`speed < 1`
    reproduces a model slower than real time, i.e. playout underruns).

    Durations the service imposes (`session_seconds`, `go_away_s`, `audio_session_limit_s`,
    `deadline_s`, `pong_delay_s`, the mean time between `drops_per_hour`) are in service
    seconds and multiplied by `time_scale` when served: 1/60 turns a 58-minute deadline into
    58 s. Conversational timing (VAD, think time, reply pacing) is never scaled.
    `EmulatorConfig.from_profile("realistic")` sets them all as the service does.
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
    input_transcript_lag_s: float = 0.0
    """The inputTranscription comes this long after the turn ended (the reply streams
    meanwhile, as the service's often does); 0 sends it before the reply."""
    tool_on_audio_turn: str | None = None
    """Declared function to call after every audio turn (text turns that name one call it)."""
    resumption_handles: bool = True
    """Send sessionResumptionUpdate after setup and after each turn."""
    time_scale: float = 1.0
    """Factor applied to every service duration (< 1 compresses time for tests)."""
    audio_session_limit_s: float | None = None
    """A session whose setup has no contextWindowCompression ends this long after it began
    (goAway first, then close 1008; resuming it is refused with 1007). None: no limit."""
    deadline_s: float | None = None
    """A session is closed with 1011 "deadline expired" this long after it began, even with
    compression; resuming it is refused with 1007. None: no deadline."""
    pong_delay_s: tuple[float, float] = (0.0, 0.0)
    """Each pong is sent after a delay drawn uniformly from this range."""
    speed_range: tuple[float, float] | None = None
    """Per-burst reply speed drawn uniformly from this range (bursts faster and slower than
    real time); None paces every burst at `speed`."""
    interim_ms: int | None = None
    """While the user speaks, send interimInputTranscription every this much speech."""
    piece_pause_ms: int | None = None
    """Send inputTranscription in pieces, one per utterance ended by this much quiet, each
    naming the received audio it covers (`_pieces.py`); None: one per turn."""
    piece_delay_ms: int = 0
    """Each piece is sent this long after its utterance ended (transcription lag)."""
    interim_words: bool = False
    """Live captions show `input_transcript` a word at a time, not "[speaking 0.50 s]"."""
    strict_setup: bool = False
    """Refuse (1007, naming it) a setup field google-genai's LiveClientSetup does not know."""
    drops_per_hour: float = 0.0
    """Connections dropped at random (TCP abort, or close 1011), on average, per hour."""
    seed: int | None = None
    """Seed of the random pong delays, reply speeds and drops (None: unpredictable)."""
    record_audio_s: float | None = None
    """None keeps every uplink byte, message and turn audio in `sessions` (tests); N keeps
    the last N seconds of uplink audio, the last 1000 messages and no turn audio once it
    was answered (0 keeps no audio): bounded memory for long runs."""
    max_message_bytes: int = 8 * 1024 * 1024
    setup_timeout_s: float = 10.0
    certfile: str | None = None
    keyfile: str | None = None

    @classmethod
    def from_profile(cls, profile: Profile = "basic", **changes: Any) -> EmulatorConfig:
        """The settings of a profile, with `changes` applied on top.

        basic: no service limits, fast replies (the defaults). realistic: what the service
        does: a connection lasts 10 min with goAway 50 s ahead, an audio session without
        compression ends at 15 min, every session is closed at 58:00 with 1011, pongs take
        8-30 s, replies come in bursts at 0.7x-3x real time, live captions every 500 ms, the
        setup checked against the SDK's fields, records bounded to the last 60 s of audio.
        """
        if profile not in PROFILES:
            raise ConfigError(f"profile: expected one of {', '.join(PROFILES)}, got {profile!r}")
        base = cls() if profile == "basic" else _REALISTIC
        return replace(base, **changes)

    def scaled(self, seconds: float) -> float:
        """A service duration in loop seconds (`seconds` x `time_scale`)."""
        return seconds * self.time_scale

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
            ("input_transcript_lag_s", self.input_transcript_lag_s, 0.0),
            ("setup_timeout_s", self.setup_timeout_s, 0.001),
            ("drops_per_hour", self.drops_per_hour, 0.0),
            *(("pong_delay_s", value, 0.0) for value in self.pong_delay_s),
            *(("speed_range", value, 0.01) for value in self.speed_range or ()),
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
        if not (math.isfinite(self.time_scale) and self.time_scale > 0):
            raise ConfigError(f"time_scale: must be > 0, got {self.time_scale!r}")
        for name, pair in (("pong_delay_s", self.pong_delay_s), ("speed_range", self.speed_range)):
            if pair is not None and (len(pair) != 2 or pair[0] > pair[1]):
                raise ConfigError(f"{name}: expected (low, high) with low <= high, got {pair!r}")
        for name, limit in (
            ("audio_session_limit_s", self.audio_session_limit_s),
            ("deadline_s", self.deadline_s),
        ):
            if limit is not None and not (math.isfinite(limit) and limit > self.go_away_s):
                raise ConfigError(
                    f"{name}: must exceed go_away_s ({self.go_away_s}), got {limit!r}"
                )
        if self.record_audio_s is not None and not (
            math.isfinite(self.record_audio_s) and self.record_audio_s >= 0
        ):
            raise ConfigError(f"record_audio_s: must be >= 0, got {self.record_audio_s!r}")
        if self.interim_ms is not None and self.interim_ms < 10:
            raise ConfigError(f"interim_ms: must be >= 10, got {self.interim_ms}")
        if self.piece_pause_ms is not None and self.piece_pause_ms < 10:
            raise ConfigError(f"piece_pause_ms: must be >= 10, got {self.piece_pause_ms}")
        if not 0 <= self.piece_delay_ms <= 10_000:
            raise ConfigError(f"piece_delay_ms: must be 0..10000, got {self.piece_delay_ms}")
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


_REALISTIC = EmulatorConfig(
    session_seconds=600.0,
    go_away_s=50.0,
    audio_session_limit_s=900.0,
    deadline_s=58 * 60.0,
    pong_delay_s=(8.0, 30.0),
    think_time_s=0.3,
    speed_range=(0.7, 3.0),
    interim_ms=500,
    strict_setup=True,
    record_audio_s=60.0,
)
