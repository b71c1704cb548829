"""Checking a client's setup the way the real service does, and reading what it declares."""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import orjson

from ..protocol._config import (
    ACTIVITY_HANDLINGS,
    BEHAVIORS,
    END_SENSITIVITIES,
    MODALITIES,
    START_SENSITIVITIES,
    TURN_COVERAGES,
)
from ._modes import check_translation
from ._wire import WireError

# The SDK's TurnCoverage (3.6.1) has a value the bridge's own config does not offer.
_TURN_COVERAGES = TURN_COVERAGES | {"TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO"}
_BEHAVIORS = BEHAVIORS | {"UNSPECIFIED"}


def _check_enum(where: str, value: Any, allowed: frozenset[str]) -> None:
    if value is not None and value not in allowed:
        raise WireError(f"Invalid value at '{where}': {value!r}")


@functools.cache
def setup_fields() -> dict[str, Any]:
    """The field tree of google-genai 3.6.1's `LiveClientSetup` (camelCase; None: any value).

    Generated from the SDK's pydantic models, which forbid unknown fields;
    tests/test_emulator_realistic.py checks it still matches the installed SDK.
    """
    text = resources.files("bridge").joinpath("data/live_setup_fields.json").read_bytes()
    tree: dict[str, Any] = orjson.loads(text)
    return tree


def _check_fields(value: Any, tree: dict[str, Any], where: str) -> None:
    if isinstance(value, list):
        for item in value:
            _check_fields(item, tree, where)
        return
    if not isinstance(value, dict):
        return
    for key, item in value.items():
        if key not in tree:
            raise WireError(f"Invalid JSON payload received. Unknown name \"{key}\" at '{where}'.")
        subtree = tree[key]
        if subtree is not None:
            _check_fields(item, subtree, f"{where}.{key}")


def validate_setup(setup: dict[str, Any], *, strict: bool = False) -> None:
    """Reject a setup the real service would reject (close 1007); `strict` also refuses any
    field the SDK's types do not know, naming it."""
    if strict:
        _check_fields(setup, setup_fields(), "setup")
    model = setup.get("model")
    if not isinstance(model, str) or not model.strip() or model.strip() == "models/":
        raise WireError("Invalid value at 'setup.model': a model name is required.")
    generation = setup.get("generationConfig") or {}
    if not isinstance(generation, dict):
        raise WireError("Invalid value at 'setup.generation_config'.")
    modalities = generation.get("responseModalities") or ["AUDIO"]
    if not isinstance(modalities, list):
        raise WireError("Invalid value at 'setup.generation_config.response_modalities'.")
    for modality in modalities:
        _check_enum("setup.generation_config.response_modalities", modality, MODALITIES)
    check_translation(generation)
    realtime = setup.get("realtimeInputConfig") or {}
    if not isinstance(realtime, dict):
        raise WireError("Invalid value at 'setup.realtime_input_config'.")
    detection = realtime.get("automaticActivityDetection") or {}
    if not isinstance(detection, dict):
        raise WireError(
            "Invalid value at 'setup.realtime_input_config.automatic_activity_detection'."
        )
    _check_enum(
        "start_of_speech_sensitivity",
        detection.get("startOfSpeechSensitivity"),
        START_SENSITIVITIES,
    )
    _check_enum(
        "end_of_speech_sensitivity", detection.get("endOfSpeechSensitivity"), END_SENSITIVITIES
    )
    for key in ("prefixPaddingMs", "silenceDurationMs"):
        value = detection.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 0
        ):
            raise WireError(f"Invalid value at 'automatic_activity_detection.{key}': {value!r}")
    _check_enum("activity_handling", realtime.get("activityHandling"), ACTIVITY_HANDLINGS)
    _check_enum("turn_coverage", realtime.get("turnCoverage"), _TURN_COVERAGES)
    tools = setup.get("tools") or []
    if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
        raise WireError("Invalid value at 'setup.tools'.")
    for tool in tools:
        for declaration in tool.get("functionDeclarations") or []:
            if not isinstance(declaration, dict) or not declaration.get("name"):
                raise WireError("Invalid value at 'setup.tools.function_declarations': name.")
            behavior = declaration.get("behavior")
            _check_enum("function_declarations.behavior", behavior, _BEHAVIORS)


def declared_functions(setup: dict[str, Any]) -> list[str]:
    """Names of the functions a setup declares."""
    names = []
    for tool in setup.get("tools") or []:
        for declaration in tool.get("functionDeclarations") or []:
            names.append(str(declaration["name"]))
    return names
