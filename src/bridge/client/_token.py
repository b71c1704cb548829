"""Minting ephemeral tokens (POST auth_tokens), so a long-lived key never leaves a server."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from .._redact import redact_text, redact_url
from .._secret import Secret
from ..protocol import AuthError, ConfigError, ConnectFailed, LiveConfig
from ._endpoint import Endpoint

_MAX_LIFETIME_S = 20 * 3600


def _rfc3339(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def token_request_body(
    *,
    uses: int = 1,
    expire_in_s: float = 1800.0,
    new_session_expire_in_s: float = 60.0,
    config: LiveConfig | None = None,
    field_mask: Sequence[str] | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The JSON body of an auth_tokens request (see `mint_token`)."""
    if isinstance(uses, bool) or not isinstance(uses, int) or uses < 0:
        raise ConfigError(f"uses: expected an integer >= 0 (0 = unlimited), got {uses!r}")
    for name, value in (
        ("expire_in_s", expire_in_s),
        ("new_session_expire_in_s", new_session_expire_in_s),
    ):
        if not 0 < value < _MAX_LIFETIME_S:
            raise ConfigError(f"{name}: must be between 0 and 20 h, got {value!r}")
    start = now or dt.datetime.now(dt.UTC)
    body: dict[str, Any] = {
        "uses": uses,
        "expireTime": _rfc3339(start + dt.timedelta(seconds=expire_in_s)),
        "newSessionExpireTime": _rfc3339(start + dt.timedelta(seconds=new_session_expire_in_s)),
    }
    if config is not None:
        config.validate()
        body["bidiGenerateContentSetup"] = config.to_wire()
        if field_mask:
            body["fieldMask"] = ",".join(field_mask)
    elif field_mask:
        raise ConfigError("field_mask: only meaningful together with config")
    return body


def _post(
    url: str, headers: dict[str, str], body: bytes, context: ssl.SSLContext | None, timeout_s: float
) -> bytes:
    request = urllib.request.Request(url, data=body, method="POST")
    for name, value in headers.items():
        # Unredirected: urllib must not carry the key to wherever a redirect points.
        request.add_unredirected_header(name, value)
    with urllib.request.urlopen(request, timeout=timeout_s, context=context) as response:
        data: bytes = response.read()
        return data


async def mint_token(
    endpoint: Endpoint,
    *,
    uses: int = 1,
    expire_in_s: float = 1800.0,
    new_session_expire_in_s: float = 60.0,
    config: LiveConfig | None = None,
    field_mask: Sequence[str] | None = None,
    timeout_s: float = 15.0,
) -> Secret:
    """Mint an ephemeral token with `endpoint.api_key`; returns "auth_tokens/..." as a Secret.

    `config` locks the embedded setup (all of it unless `field_mask` lists the locked
    fields). `uses=0` means unlimited; resuming a session does not spend a use.
    """
    if endpoint.api_key is None:
        raise ConfigError("mint_token: the endpoint needs an api_key")
    body = token_request_body(
        uses=uses,
        expire_in_s=expire_in_s,
        new_session_expire_in_s=new_session_expire_in_s,
        config=config,
        field_mask=field_mask,
    )
    version = endpoint.api_version or "v1alpha"
    url = f"{endpoint.http_base}/{version}/auth_tokens"
    headers = {"x-goog-api-key": endpoint.api_key.reveal(), "Content-Type": "application/json"}
    try:
        raw = await asyncio.to_thread(
            _post, url, headers, json.dumps(body).encode(), endpoint.ssl_context, timeout_s
        )
    except urllib.error.HTTPError as exc:
        # The body may reflect our request headers (a proxy's echo): mask the key in it.
        detail = redact_text(exc.read(4096).decode("utf-8", "replace"), endpoint.secret_values())
        if exc.code in (400, 401, 403):
            raise AuthError(f"minting a token failed: HTTP {exc.code} {detail}") from None
        raise ConnectFailed(
            f"minting a token failed: HTTP {exc.code} {detail}", status=exc.code
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        raise ConnectFailed(
            f"minting a token failed: cannot reach {redact_url(url)}: "
            f"{redact_text(str(exc), endpoint.secret_values())}"
        ) from None
    try:
        name = json.loads(raw)["name"]
    except (ValueError, KeyError, TypeError):
        # The answer is not echoed: a malformed one may still carry the token.
        raise AuthError(
            f"minting a token failed: the answer ({len(raw)} bytes) is not a JSON object "
            "with a 'name'"
        ) from None
    if not isinstance(name, str) or not name.startswith("auth_tokens/"):
        raise AuthError("minting a token failed: the answer has no auth_tokens/ name")
    return Secret(name)
