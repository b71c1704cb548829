"""The emulator server: real `websockets` server at the real Live paths, optional TLS."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import random
import re
import ssl
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from .._redact import redacting_logger
from ._config import EmulatorConfig
from ._handles import HandleRegistry, LogicalSession
from ._pong import slow_pong_connection
from ._records import SessionRecord
from ._session import EmulatedConnection
from ._setup import validate_setup
from ._wire import WireError, close_reason, decode_message

log = logging.getLogger(__name__)

_PATH = re.compile(
    r"^/+ws/google\.ai\.generativelanguage\.(v1|v1beta|v1alpha)"
    r"\.GenerativeService\.(BidiGenerateContent|BidiGenerateContentConstrained)$"
)
_RESUME_WAIT_S = 1.0


def _same(a: str | None, b: str) -> bool:
    return a is not None and hmac.compare_digest(a.encode(), b.encode())


class Emulator:
    """A local Gemini Live server for tests, benchmarks, demos and offline development.

    async with Emulator(EmulatorConfig()) as emu:
        endpoint = Endpoint(base_url=emu.url)
        ...
        record = emu.sessions[0]   # setup, messages, uplink audio, turns, handles
    """

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.config.validate()
        self.sessions: list[SessionRecord] = []
        """Every logical session, in creation order."""
        self._handles = HandleRegistry()
        self._server: Server | None = None
        self._n_open = 0
        self._next_id = 1
        self._rng = random.Random(self.config.seed)

    @property
    def tls(self) -> bool:
        """Whether the emulator serves wss://."""
        return self.config.certfile is not None

    @property
    def port(self) -> int:
        """The bound port (after `start()`)."""
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        port: int = next(iter(self._server.sockets)).getsockname()[1]
        return port

    @property
    def url(self) -> str:
        """Base URL to give a client, e.g. ws://127.0.0.1:PORT (wss:// with TLS)."""
        host = self.config.host
        if ":" in host:
            host = f"[{host}]"
        return f"{'wss' if self.tls else 'ws'}://{host}:{self.port}"

    @property
    def https_url(self) -> str:
        """The same address with an http(s) scheme, as google-genai's base_url wants it."""
        return self.url.replace("ws", "http", 1)

    async def start(self) -> None:
        """Bind and start serving."""
        context = None
        if self.tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            assert self.config.certfile is not None
            context.load_cert_chain(self.config.certfile, self.config.keyfile)
        low_s, high_s = (self.config.scaled(s) for s in self.config.pong_delay_s)
        self._server = await serve(
            self._handle,
            self.config.host,
            self.config.port,
            ssl=context,
            process_request=self._process_request,
            max_size=self.config.max_message_bytes,
            logger=redacting_logger("bridge.emulator.ws"),
            create_connection=slow_pong_connection(lambda: self._rng.uniform(low_s, high_s))
            if high_s > 0
            else None,
        )

    async def stop(self) -> None:
        """Close every connection (1001) and stop listening."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def serve_forever(self) -> None:
        """Start (if needed) and serve until cancelled."""
        if self._server is None:
            await self.start()
        assert self._server is not None
        await self._server.serve_forever()

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.partition("?")[0]
        if _PATH.match(path) is None:
            return connection.respond(404, f"Not found: {path}\n")
        limit = self.config.max_sessions
        if limit is not None and self._n_open >= limit:
            body = orjson.dumps(
                {
                    "error": {
                        "code": 429,
                        "status": "RESOURCE_EXHAUSTED",
                        "message": "Quota exceeded.",
                    }
                }
            )
            response = connection.respond(429, body.decode())
            return response
        return None

    def _authorised(self, request: Request) -> bool:
        config = self.config
        if config.api_key is None and not config.tokens:
            return True
        path, _, query_string = request.path.partition("?")
        query = parse_qs(query_string)
        headers = request.headers
        if path.endswith("Constrained"):
            presented = []
            authorization = headers.get("Authorization", "")
            if authorization.startswith("Token "):
                presented.append(authorization[len("Token ") :])
            presented += query.get("access_token", [])
            return any(_same(p, t.reveal()) for p in presented for t in config.tokens)
        key = headers.get("x-goog-api-key") or next(iter(query.get("key", [])), None)
        return config.api_key is not None and _same(key, config.api_key.reveal())

    async def _handle(self, ws: ServerConnection) -> None:
        self._n_open += 1
        try:
            await self._serve_connection(ws)
        except ConnectionClosed:
            pass
        except Exception:
            log.exception("emulator connection failed; closing with 1011")
            with contextlib.suppress(Exception):
                await ws.close(1011, "Internal error encountered.")
        finally:
            self._n_open -= 1

    async def _serve_connection(self, ws: ServerConnection) -> None:
        config = self.config
        try:
            data = await asyncio.wait_for(ws.recv(), config.setup_timeout_s)
        except TimeoutError:
            await ws.close(1007, "No setup message received.")
            return
        try:
            key, setup = decode_message(data)
            if key != "setup":
                raise WireError("The first message must be setup.")
            assert ws.request is not None
            if not self._authorised(ws.request):
                raise WireError("API key not valid. Please pass a valid API key.")
            validate_setup(setup, strict=config.strict_setup)
            model = setup["model"].strip().removeprefix("models/")
            if config.models and model not in config.models:
                raise WireError(
                    f"models/{model} is not found for API version or is not "
                    "supported for bidiGenerateContent.",
                    code=1008,
                )
            session = await self._attach(setup)
        except WireError as exc:
            await ws.close(exc.code, close_reason(str(exc)))
            return
        session.record.uplink_audio_by_connection.append(0)
        session.attached.set()
        try:
            connection = EmulatedConnection(config, self._handles, ws, session, setup, self._rng)
            await connection.send({"setupComplete": {"sessionId": session.record.session_id}})
            await connection.send_handle()
            await connection.serve()
        finally:
            session.attached.clear()
            if ws.close_code is not None:
                session.record.close_codes.append(ws.close_code)

    async def _attach(self, setup: dict[str, Any]) -> LogicalSession:
        resumption = setup.get("sessionResumption") or {}
        handle = resumption.get("handle") if isinstance(resumption, dict) else None
        if not handle:
            record = SessionRecord(session_id=f"session-{self._next_id}", setup=setup)
            self._next_id += 1
            self.sessions.append(record)
            return LogicalSession(record, started_s=asyncio.get_running_loop().time())
        session = self._handles.lookup(handle)
        if session is None:
            raise WireError("Session resumption handle is invalid or expired.")
        if session.ended is not None:
            raise WireError(f"Session resumption refused: the session ended ({session.ended}).")
        if session.attached.is_set():
            # The real service refuses a resume while the old socket is open; allow the
            # old connection a moment to finish closing first.
            loop = asyncio.get_running_loop()
            deadline_s = loop.time() + _RESUME_WAIT_S
            while session.attached.is_set() and loop.time() < deadline_s:
                await asyncio.sleep(0.01)
            if session.attached.is_set():
                raise WireError("The session is still connected elsewhere.")
        session.record.resumed_with.append(handle)
        return session
