"""Gemini Live client: a thin websockets (asyncio) layer over `bridge.protocol`.

    endpoint = Endpoint(api_key=Secret(os.environ["GEMINI_API_KEY"]))
    async with connect(LiveConfig(model="gemini-3.8-live"), endpoint) as conn:
        await conn.send_audio(pcm_20ms)
        async for event in conn:
            ...

Keys travel only in the `x-goog-api-key` header, tokens in `Authorization: Token`.
Permessage-deflate is off (base64 PCM does not compress enough to pay for it), pings
never time out a session, and the message size limit fits large audio bursts.
"""

from __future__ import annotations

from ._connection import MAX_MESSAGE_BYTES, LiveConnection, connect
from ._endpoint import DEFAULT_BASE_URL, Endpoint
from ._token import mint_token, token_request_body

__all__ = [
    "DEFAULT_BASE_URL",
    "MAX_MESSAGE_BYTES",
    "Endpoint",
    "LiveConnection",
    "connect",
    "mint_token",
    "token_request_body",
]
