"""From the bridge's configuration tree to the protocol's `LiveConfig` and `Endpoint`."""

from __future__ import annotations

from ..client import Endpoint
from ..config import BridgeConfig
from ..protocol import (
    AutomaticActivityDetection,
    ContextWindowCompression,
    FunctionDeclaration,
    GenerationConfig,
    LiveConfig,
    RealtimeInputConfig,
    SpeechConfig,
)
from ..tools import ToolRegistry


def live_config(config: BridgeConfig, tools: ToolRegistry | None = None) -> LiveConfig:
    """The `setup` content for `config`, declaring every tool in `tools`."""
    gemini = config.gemini
    compression = None
    if gemini.context_compression_tokens:
        compression = ContextWindowCompression(trigger_tokens=gemini.context_compression_tokens)
    declarations = tuple(
        FunctionDeclaration(
            name=tool.name,
            description=tool.description,
            parameters=dict(tool.parameters) if tool.parameters.get("properties") else None,
        )
        for tool in (tools or ())
    )
    return LiveConfig(
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


def endpoint(config: BridgeConfig) -> Endpoint:
    """Where to connect and with which credentials."""
    ep = config.endpoint
    return Endpoint(
        base_url=ep.url,
        api_version=ep.api_version or None,
        api_key=ep.api_key,
        token=ep.ephemeral_token,
    )
