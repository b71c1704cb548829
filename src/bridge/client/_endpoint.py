"""Where and how to reach a Gemini Live service: URL, version, credentials, TLS."""

from __future__ import annotations

import ssl
from dataclasses import dataclass

from .._secret import Secret
from ..protocol.errors import ConfigError

DEFAULT_BASE_URL = "wss://generativelanguage.googleapis.com"
_SERVICE = "google.ai.generativelanguage.{version}.GenerativeService.{method}"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A Live endpoint. Credentials stay in `Secret`s and travel only in headers.

    `api_key` goes in `x-goog-api-key`; an ephemeral `token` ("auth_tokens/...") goes in
    `Authorization: Token ...` on the `BidiGenerateContentConstrained` method. `api_version`
    defaults to v1beta for keys and v1alpha for tokens. `base_url` may be `wss://`, `ws://`,
    `https://` or `http://` (mapped to the WebSocket scheme), e.g. an emulator's URL.
    """

    base_url: str = DEFAULT_BASE_URL
    api_version: str | None = None
    api_key: Secret | None = None
    token: Secret | None = None
    ssl_context: ssl.SSLContext | None = None
    """Custom TLS trust (e.g. a self-signed emulator certificate); None = system defaults."""

    def validate(self) -> None:
        """Raise `ConfigError` for an unusable endpoint."""
        if not self.base_url.startswith(("wss://", "ws://", "https://", "http://")):
            raise ConfigError(f"base_url: expected a ws(s):// or http(s):// URL: {self.base_url!r}")
        if self.api_key is not None and not isinstance(self.api_key, Secret):
            raise ConfigError("api_key: wrap the key in bridge.Secret")
        if self.token is not None and not isinstance(self.token, Secret):
            raise ConfigError("token: wrap the token in bridge.Secret")
        if self.api_version is not None and self.api_version not in ("v1", "v1beta", "v1alpha"):
            raise ConfigError(f"api_version: expected v1, v1beta or v1alpha: {self.api_version!r}")

    @property
    def version(self) -> str:
        """The API version actually used."""
        if self.api_version is not None:
            return self.api_version
        return "v1alpha" if self.token is not None else "v1beta"

    @property
    def ws_base(self) -> str:
        """`base_url` with a WebSocket scheme and no trailing slash."""
        base = self.base_url.rstrip("/")
        if base.startswith("https://"):
            return "wss://" + base[len("https://") :]
        if base.startswith("http://"):
            return "ws://" + base[len("http://") :]
        return base

    @property
    def http_base(self) -> str:
        """`base_url` with an HTTP scheme (for REST calls such as minting tokens)."""
        base = self.base_url.rstrip("/")
        if base.startswith("wss://"):
            return "https://" + base[len("wss://") :]
        if base.startswith("ws://"):
            return "http://" + base[len("ws://") :]
        return base

    @property
    def url(self) -> str:
        """The Live WebSocket URL (never contains a credential)."""
        method = "BidiGenerateContentConstrained" if self.token else "BidiGenerateContent"
        return f"{self.ws_base}/ws/" + _SERVICE.format(version=self.version, method=method)

    def headers(self) -> dict[str, str]:
        """Authentication headers for the upgrade request."""
        if self.token is not None:
            return {"Authorization": f"Token {self.token.reveal()}"}
        if self.api_key is not None:
            return {"x-goog-api-key": self.api_key.reveal()}
        return {}
