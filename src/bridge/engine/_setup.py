"""From the bridge's configuration tree to what a session is made of.

`live_config()` and `endpoint()` for the protocol and client; `connector()` (the client's
reconnecting `connect()` with the engine's retry settings); `audio_paths()` (the uplink
and downlink sized for the transport).
"""

from __future__ import annotations

from collections.abc import Callable

from .._pacing import Monotonic, Sleep
from ..client import Connect, Endpoint, RetryEvent, RetryPolicy, connect
from ..config import BridgeConfig
from ..protocol import (
    AutomaticActivityDetection,
    ContextWindowCompression,
    FunctionDeclaration,
    GenerationConfig,
    LiveConfig,
    LiveProtocol,
    RealtimeInputConfig,
    SpeechConfig,
)
from ..tools import BRIDGE_TOOL_NAMES, ToolRegistry
from ..transports import Transport
from ._downlink import Downlink
from ._gate import UplinkGate
from ._modes import apply_mode
from ._uplink import GEMINI_INPUT_RATE_HZ, Uplink
from ._vad import EnergyVad


def live_config(config: BridgeConfig, tools: ToolRegistry | None = None) -> LiveConfig:
    """The `setup` content for `config`, declaring every tool in `tools`."""
    gemini = config.gemini
    # On by default: without it the service ends audio sessions at 15 min. Audio is 32
    # tokens a second either way, so the 32k trigger is ~8 min of talk (a quarter of a
    # 128k window: replies never wait on a full one) and the 16k target keeps ~4 min.
    compression = None
    if gemini.context_compression_tokens:
        compression = ContextWindowCompression(
            trigger_tokens=gemini.context_compression_tokens,
            target_tokens=gemini.context_compression_target_tokens,
        )
    declarations = tuple(
        FunctionDeclaration(
            name=tool.name,
            description=tool.description,
            parameters=dict(tool.parameters) if tool.parameters.get("properties") else None,
            behavior=tool.behavior,
        )
        for tool in (tools or ())
    )
    live = LiveConfig(
        model=gemini.model,
        generation=GenerationConfig(
            temperature=gemini.temperature,
            speech=SpeechConfig(
                voice_name=gemini.voice, language_code=gemini.language_code or None
            ),
        ),
        system_instruction=gemini.system_instruction or None,
        function_declarations=declarations,
        realtime_input=RealtimeInputConfig(
            activity_detection=AutomaticActivityDetection(
                disabled=not gemini.automatic_activity_detection
            )
        ),
        session_resumption=gemini.session_resumption,
        context_window_compression=compression,
        input_transcription=gemini.input_transcription,
        output_transcription=gemini.output_transcription,
    )
    return apply_mode(live, config)


def tools_for(config: BridgeConfig, tools: ToolRegistry | None) -> ToolRegistry:
    """`tools` as `config.tools` sets them (disabled ones left out, overrides applied)."""
    return config.tools.apply(tools or ToolRegistry(), known=BRIDGE_TOOL_NAMES)


def endpoint(config: BridgeConfig) -> Endpoint:
    """Where to connect and with which credentials."""
    ep = config.endpoint
    return Endpoint(
        base_url=ep.url,
        api_version=ep.api_version or None,
        api_key=ep.api_key,
        token=ep.ephemeral_token,
    )


def connector(
    config: BridgeConfig,
    protocol: LiveProtocol,
    *,
    on_retry: Callable[[RetryEvent], None],
    monotonic: Monotonic,
    sleep: Sleep,
    keep_trying: bool = False,
) -> Connect:
    """`async for conn in connector()`: the session's connections, retried per `config`.

    `keep_trying`: once `reconnect_max_attempts` are spent, go on with one attempt per
    `reconnect_cool_down_s` instead of giving up (a bot's chat outlives an outage).
    """
    engine = config.engine
    retry = RetryPolicy(
        max_attempts=engine.reconnect_max_attempts,
        initial_delay_s=engine.reconnect_base_delay_s,
        max_delay_s=engine.reconnect_max_delay_s,
        cool_down_s=engine.reconnect_cool_down_s if keep_trying else None,
    )
    # No websockets keepalive: the link pings itself and counts the pongs (liveness).
    return connect(
        protocol.config,
        endpoint(config),
        protocol=protocol,
        connect_timeout_s=config.endpoint.connect_timeout_s,
        ping_interval_s=None,
        retry=retry,
        on_retry=on_retry,
        monotonic=monotonic,
        sleep=sleep,
    )


def audio_paths(
    config: BridgeConfig, transport: Transport, vad: EnergyVad, monotonic: Monotonic
) -> tuple[Uplink, Downlink]:
    """The uplink and downlink for `transport`'s format, as `config.engine` sets them."""
    engine = config.engine
    capacity = config.metrics.histogram_capacity
    uplink = Uplink(
        sample_rate_hz=transport.sample_rate_hz,
        channels=transport.channels,
        chunk_ms=engine.uplink_chunk_ms,
        ring_capacity_s=engine.ring_capacity_s,
        vad=vad,
        idle_ticks=max(1, engine.speaker_idle_ms // 10),
        histogram_capacity=capacity,
        gate=UplinkGate(
            vad,
            pre_roll_ms=engine.uplink_pre_roll_ms,
            hangover_ms=engine.uplink_hangover_ms,
            pause_ms=engine.uplink_pause_ms,
            sample_rate_hz=GEMINI_INPUT_RATE_HZ,
        )
        if engine.uplink_gate
        else None,
        monotonic=monotonic,
    )
    downlink = Downlink(
        sample_rate_hz=transport.sample_rate_hz,
        channels=transport.channels,
        target_ms=engine.jitter_target_ms,
        max_ms=engine.jitter_max_ms,
        histogram_capacity=capacity,
    )
    return uplink, downlink
