"""Every error the Gemini Live layers raise.

Exception tree::

    BridgeError
    ├── ConfigError                  invalid configuration, raised before anything is sent
    ├── ProtocolError                a server message we cannot understand (bad JSON, types)
    ├── LocalProtocolError           a client message illegal in the session's current state
    ├── AuthError                    key or token refused (HTTP 401/403, token minting)
    ├── ConnectFailed                the WebSocket could not be opened (timeout, HTTP status)
    │   └── QuotaExceeded            HTTP 429 on the upgrade itself
    └── LiveConnectionClosed         the server (or network) closed an open session
        ├── InvalidArgument          close 1007: bad argument, bad or expired key, second setup
        ├── PolicyViolation          close 1008: model not found, policy, end of session
        └── ServerInternalError      close 1011: internal error or deadline exceeded

`ConfigError` and `ProtocolError` are also `ValueError`s; `ConnectFailed` and
`LiveConnectionClosed` are also `ConnectionError`s, so generic handlers keep working.
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "BridgeError",
    "ConfigError",
    "ConnectFailed",
    "InvalidArgument",
    "LiveConnectionClosed",
    "LocalProtocolError",
    "PolicyViolation",
    "ProtocolError",
    "QuotaExceeded",
    "ServerInternalError",
    "closed_error",
]


class BridgeError(Exception):
    """Base class of every error raised by the bridge's Gemini layers."""


class ConfigError(BridgeError, ValueError):
    """A configuration value is invalid; the message names the field and the value."""


class ProtocolError(BridgeError, ValueError):
    """A server message is malformed; the message names what was wrong and where."""


class LocalProtocolError(BridgeError):
    """We were about to send something the protocol forbids in the current state.

    Audio, text or a tool response before `setupComplete` or after the connection ended,
    a second setup on one connection, a tool response for an id that is not pending,
    `audioStreamEnd` with client-side activity marking (or `activityStart` without it).
    Nothing was sent and the state is unchanged: the caller has a bug, not the server.
    """


class AuthError(BridgeError):
    """The API key or ephemeral token was refused, or a token could not be minted."""


class ConnectFailed(BridgeError, ConnectionError):
    """Opening the Live WebSocket failed before the session started.

    `status` is the HTTP status of a refused upgrade, or None for network errors and
    timeouts.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class QuotaExceeded(ConnectFailed):
    """The server answered the upgrade with HTTP 429 (quota or rate limit)."""


class LiveConnectionClosed(BridgeError, ConnectionError):
    """An open Live session ended; `code` is the WebSocket close code, `reason` the server's text.

    `retryable` tells whether reconnecting (with the resumption handle) makes sense after
    this close ended an open session. Whether a failed connection *attempt* is retried is
    `bridge.client.RetryPolicy.process_exception`'s call (1008 during setup is fatal there).
    """

    retryable: bool = True

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"Live connection closed with code {code}: {reason or 'no reason given'}")
        self.code = code
        self.reason = reason


class InvalidArgument(LiveConnectionClosed):
    """Close code 1007: invalid argument, bad or expired key, or a second setup."""

    retryable = False


class PolicyViolation(LiveConnectionClosed):
    """Close code 1008: model not found, policy violation, or the session's time is up."""


class ServerInternalError(LiveConnectionClosed):
    """Close code 1011: internal server error or deadline exceeded."""


_BY_CODE: dict[int, type[LiveConnectionClosed]] = {
    1007: InvalidArgument,
    1008: PolicyViolation,
    1011: ServerInternalError,
}


def closed_error(code: int, reason: str = "") -> LiveConnectionClosed:
    """The typed exception for a close `code` (generic `LiveConnectionClosed` for others)."""
    return _BY_CODE.get(code, LiveConnectionClosed)(code, reason)
