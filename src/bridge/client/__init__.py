"""Gemini Live client: a thin websockets (asyncio) layer over `bridge.protocol`.

    endpoint = Endpoint(api_key=Secret(os.environ["GEMINI_API_KEY"]))
    async with connect(LiveConfig(model="gemini-3.8-live"), endpoint) as conn:
        await conn.send_audio(pcm_20ms)
        async for event in conn:
            ...

    async for conn in connect(config, endpoint, retry=RetryPolicy(max_attempts=5)):
        try:
            async for event in conn:     # until the server closes this connection
                ...
        except LiveConnectionClosed:
            continue                     # reconnect, resuming the session

Reconnection lives here and only here: `async for` over `connect()` retries failed
attempts with backoff (which errors are fatal is `RetryPolicy.process_exception`),
carries the resumption handle over in the shared `LiveProtocol`, and drops a handle the
server refuses to start one fresh session (also when it accepts the resumption and then
closes with 1007). A connection the server accepts and closes before sending anything is
a failed attempt of the same outage (no hot loop); 1007/1008 are fatal;
`RetryPolicy(cool_down_s=...)` keeps trying after the budget, one attempt per cool-down.
Keys travel only in the `x-goog-api-key` header, tokens in `Authorization: Token`.
Permessage-deflate is off (base64 PCM does not compress enough to pay for it), pings
never time out a session (the engine judges liveness from
`LiveConnection.last_heard_s`), a close waits at most `CLOSE_TIMEOUT_S` for a dead peer,
and the message size limit fits large audio bursts.
"""

from __future__ import annotations

from ._connect import MAX_MESSAGE_BYTES, Connect, connect
from ._connection import LiveConnection
from ._endpoint import DEFAULT_BASE_URL, Endpoint
from ._retry import RetryEvent, RetryPolicy, describe
from ._token import mint_token, token_request_body

__all__ = [
    "DEFAULT_BASE_URL",
    "MAX_MESSAGE_BYTES",
    "Connect",
    "Endpoint",
    "LiveConnection",
    "RetryEvent",
    "RetryPolicy",
    "connect",
    "describe",
    "mint_token",
    "token_request_body",
]
