"""Configuration: TOML + environment, validation errors naming the key, secret redaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config import BridgeConfig, ConfigError


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "bridge.toml"
    path.write_text(text)
    return str(path)


def test_defaults_need_no_file_and_no_environment() -> None:
    config = BridgeConfig.load(None, {})
    assert config.engine.uplink_chunk_ms == 20
    assert config.transport.sample_rate_hz == 48_000
    assert config.endpoint.api_key is None


def test_file_then_environment_with_environment_winning(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[gemini]
model = "gemini-2.5-flash-native-audio-latest"
voice = "Kore"
[engine]
uplink_chunk_ms = 40
vad_duck = true
[transport]
channels = 2
""",
    )
    env = {"GEMINI_MODEL": "gemini-3.8-live", "BRIDGE_ENGINE_JITTER_TARGET_MS": "80"}
    config = BridgeConfig.load(path, env)
    assert config.gemini.model == "gemini-3.8-live"
    assert config.gemini.voice == "Kore"
    assert config.engine.uplink_chunk_ms == 40
    assert config.engine.jitter_target_ms == 80
    assert config.engine.vad_duck is True
    assert config.transport.channels == 2


def test_api_key_from_environment_is_never_shown() -> None:
    config = BridgeConfig.load(None, {"GEMINI_API_KEY": "AIza-very-secret"})
    assert config.endpoint.api_key is not None
    assert config.endpoint.api_key.reveal() == "AIza-very-secret"
    for text in (repr(config), str(config), f"{config}", str(config.describe())):
        assert "AIza-very-secret" not in text


def test_gemini_api_key_wins_over_google_api_key() -> None:
    config = BridgeConfig.load(None, {"GOOGLE_API_KEY": "g", "GEMINI_API_KEY": "m"})
    assert config.endpoint.api_key is not None and config.endpoint.api_key.reveal() == "m"


@pytest.mark.parametrize(
    ("toml", "key", "fragment"),
    [
        ("[engine]\nuplink_chunk_ms = 25", "engine.uplink_chunk_ms", "one of [20, 40, 60]"),
        ("[engine]\njitter_target_ms = 'forty'", "engine.jitter_target_ms", "integer"),
        ("[engine]\nvad_duck = 1", "engine.vad_duck", "true or false"),
        ("[engine]\nring_capacity_s = -1.0", "engine.ring_capacity_s", "must be in"),
        ("[engine]\nuplink_chunk = 20", "engine.uplink_chunk", "unknown key"),
        ("[engin]\nuplink_chunk_ms = 20", "engin", "unknown section"),
        ("[endpoint]\nurl = 'http://example.com'", "endpoint.url", "ws://"),
        ("[gemini]\nmodel = '  '", "gemini.model", "empty"),
        ("engine = 3", "engine", "[table]"),
    ],
)
def test_bad_file_values_name_the_key(tmp_path: Path, toml: str, key: str, fragment: str) -> None:
    path = write(tmp_path, toml)
    with pytest.raises(ConfigError) as info:
        BridgeConfig.load(path, {})
    assert info.value.key == key
    assert fragment in str(info.value)
    assert path in str(info.value) or key == "engine"


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ConfigError) as info:
        BridgeConfig.load(None, {"BRIDGE_ENGINE_UPLINK_CHUNK_MS": "fast"})
    assert info.value.key == "engine.uplink_chunk_ms"
    assert "$BRIDGE_ENGINE_UPLINK_CHUNK_MS" in str(info.value)
    assert "'fast'" in str(info.value)


def test_bad_secret_value_is_not_echoed(tmp_path: Path) -> None:
    path = write(tmp_path, "[endpoint]\napi_key = 12345678")
    with pytest.raises(ConfigError) as info:
        BridgeConfig.load(path, {})
    assert "12345678" not in str(info.value)


def test_missing_and_broken_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        BridgeConfig.load(str(tmp_path / "nope.toml"), {})
    with pytest.raises(ConfigError, match="not valid TOML"):
        BridgeConfig.load(write(tmp_path, "[engine\n"), {})


def test_cross_field_rule_and_overrides() -> None:
    with pytest.raises(ConfigError, match="reconnect_max_delay_s"):
        BridgeConfig().with_overrides(engine={"reconnect_max_delay_s": 0.01})
    with pytest.raises(ConfigError, match=r"engine\.speed"):
        BridgeConfig().with_overrides(engine={"speed": 1})
    with pytest.raises(ConfigError, match=r"engine\.uplink_chunk_ms"):
        BridgeConfig().with_overrides(engine={"uplink_chunk_ms": 30})
    config = BridgeConfig().with_overrides(endpoint={"url": "ws://127.0.0.1:9"})
    assert config.endpoint.url == "ws://127.0.0.1:9"


def test_chat_allowlist_from_file_and_environment(tmp_path: Path) -> None:
    path = write(tmp_path, '[telegram]\nallow = ["@alice", 123456]\nadmins = false\n')
    config = BridgeConfig.load(path, {})
    assert config.telegram.allow == ("@alice", "123456")
    assert config.telegram.admins is False
    env = {"BRIDGE_TELEGRAM_ALLOW": "@bob, 42"}
    assert BridgeConfig.load(path, env).telegram.allow == ("@bob", "42")
    with pytest.raises(ConfigError, match=r"telegram\.allow: must be a list"):
        BridgeConfig.load(write(tmp_path, '[telegram]\nallow = "@alice"\n'), {})


def test_config_errors_are_bridge_errors_and_name_the_key() -> None:
    from bridge.protocol import BridgeError

    with pytest.raises(BridgeError) as info:
        BridgeConfig.load(None, {"BRIDGE_ENGINE_JITTER_TARGET_MS": "5"})
    assert isinstance(info.value, ConfigError) and isinstance(info.value, ValueError)
    assert "engine.jitter_target_ms" in str(info.value)
    assert "$BRIDGE_ENGINE_JITTER_TARGET_MS" in str(info.value)


def test_secret_is_public() -> None:
    import bridge

    assert "Secret" in bridge.__all__
    assert repr(bridge.Secret("x")) == "Secret('***')"
