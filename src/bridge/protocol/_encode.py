"""Builders for every client message, each returning UTF-8 JSON bytes for one text frame.

`encode_audio` is the hot path (50 calls a second per speaker): it base64-encodes the PCM
buffer directly and splices it between two cached byte templates, so no dict is built and
no JSON serialiser runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson
from pybase64 import b64encode

from ._config import LiveConfig
from ._events import SCHEDULINGS, FunctionResponse
from .errors import ConfigError

__all__ = [
    "encode_activity_end",
    "encode_activity_start",
    "encode_audio",
    "encode_audio_stream_end",
    "encode_client_content",
    "encode_setup",
    "encode_text",
    "encode_tool_response",
]

_AUDIO_SUFFIX = b'"}}}'
_audio_prefixes: dict[int, bytes] = {}
# Buffer formats that carry raw int16 PCM: int16 itself, or plain bytes.
_PCM_FORMATS = frozenset(("h", "<h", "=h", "B", "b", "c"))


def _audio_prefix(sample_rate_hz: int) -> bytes:
    if isinstance(sample_rate_hz, bool) or not isinstance(sample_rate_hz, int):
        raise ConfigError(f"sample_rate_hz: expected an integer, got {sample_rate_hz!r}")
    if not 8000 <= sample_rate_hz <= 48000:
        raise ConfigError(f"sample_rate_hz: must be 8000..48000, got {sample_rate_hz}")
    prefix = (
        b'{"realtimeInput":{"audio":{"mimeType":"audio/pcm;rate='
        + str(sample_rate_hz).encode()
        + b'","data":"'
    )
    _audio_prefixes[sample_rate_hz] = prefix
    return prefix


def encode_audio(pcm: Any, *, sample_rate_hz: int = 16000) -> bytes:
    """`realtimeInput.audio` carrying `pcm`: any C-contiguous int16 buffer (bytes, array, ndarray).

    Raises `ConfigError` for a buffer that is not int16 (e.g. float32) or has an odd byte count.
    """
    prefix = _audio_prefixes.get(sample_rate_hz) or _audio_prefix(sample_rate_hz)
    if type(pcm) is not bytes:
        view = memoryview(pcm)
        if view.format not in _PCM_FORMATS:
            raise ConfigError(f"pcm: expected int16 samples, got buffer format {view.format!r}")
        if not view.c_contiguous:
            raise ConfigError("pcm: buffer must be C-contiguous")
        if view.nbytes & 1:
            raise ConfigError(f"pcm: odd byte count {view.nbytes} is not whole int16 samples")
        pcm = view.cast("B") if view.ndim != 1 or view.itemsize != 1 else view
    elif len(pcm) & 1:
        raise ConfigError(f"pcm: odd byte count {len(pcm)} is not whole int16 samples")
    return prefix + b64encode(pcm) + _AUDIO_SUFFIX


def encode_setup(config: LiveConfig, *, resumption_handle: str | None = None) -> bytes:
    """The `setup` message for `config`, resuming `resumption_handle` if given.

    Validates `config` first, so nothing invalid ever reaches the wire.
    """
    config.validate()
    if resumption_handle is not None and (
        not isinstance(resumption_handle, str) or not resumption_handle
    ):
        raise ConfigError(f"resumption_handle: expected a handle, got {resumption_handle!r}")
    return orjson.dumps({"setup": config.to_wire(resumption_handle=resumption_handle)})


def encode_text(text: str) -> bytes:
    """`realtimeInput.text`: text the model treats like speech in the realtime stream."""
    if not isinstance(text, str):
        raise ConfigError(f"text: expected str, got {type(text).__name__}")
    return orjson.dumps({"realtimeInput": {"text": text}})


_ACTIVITY_START = b'{"realtimeInput":{"activityStart":{}}}'
_ACTIVITY_END = b'{"realtimeInput":{"activityEnd":{}}}'
_AUDIO_STREAM_END = b'{"realtimeInput":{"audioStreamEnd":true}}'


def encode_activity_start() -> bytes:
    """`realtimeInput.activityStart` (only when automatic activity detection is disabled)."""
    return _ACTIVITY_START


def encode_activity_end() -> bytes:
    """`realtimeInput.activityEnd` (only when automatic activity detection is disabled)."""
    return _ACTIVITY_END


def encode_audio_stream_end() -> bytes:
    """`realtimeInput.audioStreamEnd` (the mic paused; only with automatic detection)."""
    return _AUDIO_STREAM_END


def encode_client_content(
    turns: str | Sequence[Mapping[str, Any]], *, turn_complete: bool = True
) -> bytes:
    """`clientContent`: a plain string becomes one user turn; otherwise a list of Contents.

    Each Content is `{"role": "user"|"model", "parts": [{"text": ...}]}`. Sending this
    interrupts any generation in progress.
    """
    if isinstance(turns, str):
        contents: list[Any] = [{"role": "user", "parts": [{"text": turns}]}]
    else:
        contents = []
        for index, turn in enumerate(turns):
            if not isinstance(turn, Mapping) or not isinstance(turn.get("parts"), list):
                raise ConfigError(f"turns[{index}]: expected a Content with a 'parts' list")
            contents.append(dict(turn))
    return orjson.dumps({"clientContent": {"turns": contents, "turnComplete": turn_complete}})


def encode_tool_response(responses: Iterable[FunctionResponse]) -> bytes:
    """`toolResponse` answering one or more function calls by id."""
    items: list[dict[str, Any]] = []
    for response in responses:
        if not isinstance(response, FunctionResponse):
            raise ConfigError(f"tool response: expected FunctionResponse, got {response!r}")
        if not response.id:
            raise ConfigError(f"tool response for {response.name!r}: the call id is required")
        if not isinstance(response.response, Mapping):
            raise ConfigError(f"tool response {response.id!r}: response must be a mapping")
        item: dict[str, Any] = {
            "id": response.id,
            "name": response.name,
            "response": dict(response.response),
        }
        if response.scheduling is not None:
            if response.scheduling not in SCHEDULINGS:
                raise ConfigError(
                    f"tool response {response.id!r}: unknown scheduling {response.scheduling!r}"
                )
            item["scheduling"] = response.scheduling
        if response.will_continue is not None:
            item["willContinue"] = response.will_continue
        items.append(item)
    if not items:
        raise ConfigError("tool response: at least one FunctionResponse is needed")
    try:
        return orjson.dumps({"toolResponse": {"functionResponses": items}})
    except TypeError as exc:
        raise ConfigError(f"tool response: value is not JSON-serialisable: {exc}") from None
