"""Client details: endpoint URLs and headers, secrets, compression, token minting."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from bridge._secret import Secret
from bridge.client import Endpoint, connect, mint_token, token_request_body
from bridge.emulator import Emulator, EmulatorConfig
from bridge.protocol import AuthError, ConfigError, ConnectFailed, LiveConfig

Run = Callable[..., Any]
CONFIG = LiveConfig(model="gemini-3.8-live")


def test_endpoint_url_and_headers_keep_the_key_out_of_the_url() -> None:
    endpoint = Endpoint(api_key=Secret("AIzaSECRET"))
    assert endpoint.url == (
        "wss://generativelanguage.googleapis.com/ws/"
        "google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
    )
    assert endpoint.headers() == {"x-goog-api-key": "AIzaSECRET"}
    assert "AIzaSECRET" not in repr(endpoint) and "AIzaSECRET" not in endpoint.url
    token = Endpoint(base_url="https://example.test/", token=Secret("auth_tokens/abc"))
    assert token.url == (
        "wss://example.test/ws/"
        "google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContentConstrained"
    )
    assert token.headers() == {"Authorization": "Token auth_tokens/abc"}
    assert Endpoint(base_url="http://127.0.0.1:9", api_version="v1").url.startswith(
        "ws://127.0.0.1:9/ws/google.ai.generativelanguage.v1."
    )


@pytest.mark.parametrize(
    ("endpoint", "fragment"),
    [
        (Endpoint(base_url="ftp://x"), "base_url"),
        (Endpoint(api_version="v2"), "api_version"),
        (Endpoint(api_key="plain"), "Secret"),  # type: ignore[arg-type]
    ],
)
def test_bad_endpoints_are_refused(endpoint: Endpoint, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        endpoint.validate()


def test_debug_logs_of_client_and_emulator_never_show_the_key_or_token(
    run: Run, caplog: pytest.LogCaptureFixture
) -> None:
    key, token = "AIzaNEVER-IN-LOGS", "auth_tokens/never-in-logs"
    caplog.set_level(logging.DEBUG)

    async def scenario() -> None:
        config = EmulatorConfig(api_key=Secret(key), tokens=(Secret(token),))
        async with Emulator(config) as emu:
            async with connect(CONFIG, Endpoint(base_url=emu.url, api_key=Secret(key))):
                pass
            async with connect(CONFIG, Endpoint(base_url=emu.url, token=Secret(token))):
                pass

    run(scenario())
    logged = caplog.text.lower()
    # Both ends logged the handshake headers, with the values masked.
    assert "> x-goog-api-key: ***" in logged and "< x-goog-api-key: ***" in logged
    assert "> authorization: ***" in logged
    assert key.lower() not in logged and "never-in-logs" not in logged


def test_compression_is_off_by_default_and_can_be_enabled(run: Run) -> None:
    async def scenario() -> None:
        async with Emulator(EmulatorConfig()) as emu:
            endpoint = Endpoint(base_url=emu.url)
            async with connect(CONFIG, endpoint) as conn:
                assert not conn.compressed
            async with connect(CONFIG, endpoint, compression=True) as conn:
                assert conn.compressed

    run(scenario())


def test_connect_times_out_when_setup_is_never_answered(run: Run) -> None:
    from websockets.asyncio.server import serve

    async def silent(ws: Any) -> None:
        await ws.wait_closed()

    async def scenario() -> None:
        async with serve(silent, "127.0.0.1", 0) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            with pytest.raises(ConnectFailed, match="no setupComplete"):
                await connect(
                    CONFIG, Endpoint(base_url=f"ws://127.0.0.1:{port}"), connect_timeout_s=0.3
                )

    run(scenario())


class _TokenServer(BaseHTTPRequestHandler):
    requests: ClassVar[list[tuple[str, dict[str, str], dict[str, Any]]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _TokenServer.requests.append(
            (self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        )
        if self.headers.get("x-goog-api-key") == "redirected-key":
            self.send_response(302)
            self.send_header("Location", "/elsewhere")
            self.end_headers()
            return
        if self.headers.get("x-goog-api-key") != "server-key":
            self.send_response(401)
            self.end_headers()
            self.wfile.write(b'{"error": {"message": "API key not valid"}}')
            return
        answer = json.dumps({"name": "auth_tokens/minted-1"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def do_GET(self) -> None:
        # Where a redirect lands: answers a malformed body that still holds a token.
        _TokenServer.requests.append(
            (self.path, {k.lower(): v for k, v in self.headers.items()}, {})
        )
        answer = b'{"nam": "auth_tokens/leaked-if-echoed"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def token_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TokenServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _TokenServer.requests = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_mint_token_posts_the_setup_and_returns_a_secret(run: Run, token_server: str) -> None:
    endpoint = Endpoint(base_url=token_server, api_key=Secret("server-key"))
    token = run(
        mint_token(endpoint, uses=2, config=CONFIG, field_mask=["generationConfig.temperature"])
    )
    assert isinstance(token, Secret) and token.reveal() == "auth_tokens/minted-1"
    assert "minted" not in repr(token)
    ((path, headers, body),) = _TokenServer.requests
    assert path == "/v1alpha/auth_tokens"
    assert headers["x-goog-api-key"] == "server-key"
    assert body["uses"] == 2
    assert body["bidiGenerateContentSetup"]["model"] == "models/gemini-3.8-live"
    assert body["fieldMask"] == "generationConfig.temperature"


def test_mint_token_with_a_bad_key_raises_auth_error(run: Run, token_server: str) -> None:
    endpoint = Endpoint(base_url=token_server, api_key=Secret("wrong"))
    with pytest.raises(AuthError, match="401") as caught:
        run(mint_token(endpoint))
    assert "wrong" not in str(caught.value)


def test_mint_token_never_forwards_the_key_on_a_redirect_nor_echoes_the_answer(
    run: Run, token_server: str
) -> None:
    endpoint = Endpoint(base_url=token_server, api_key=Secret("redirected-key"))
    with pytest.raises(AuthError, match="not a JSON object") as caught:
        run(mint_token(endpoint))
    assert "leaked-if-echoed" not in str(caught.value)
    (_, first, _), (path, followed, _) = _TokenServer.requests
    assert first["x-goog-api-key"] == "redirected-key"
    assert path == "/elsewhere" and "x-goog-api-key" not in followed


def test_token_request_body_times_and_limits() -> None:
    now = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)
    body = token_request_body(now=now)
    assert body == {
        "uses": 1,
        "expireTime": "2026-11-24T12:30:00.000000Z",
        "newSessionExpireTime": "2026-11-24T12:01:00.000000Z",
    }
    with pytest.raises(ConfigError, match="20 h"):
        token_request_body(expire_in_s=21 * 3600)
    with pytest.raises(ConfigError, match="uses"):
        token_request_body(uses=-1)
    with pytest.raises(ConfigError, match="field_mask"):
        token_request_body(field_mask=["x"])


def test_client_and_emulator_also_run_on_plain_asyncio() -> None:
    import asyncio

    from bridge.protocol import TurnComplete, encode_text

    async def scenario() -> list[str]:
        async with (
            Emulator(EmulatorConfig(think_time_s=0.0, speed=50.0)) as emu,
            connect(CONFIG, Endpoint(base_url=emu.url)) as conn,
        ):
            await conn.send(encode_text("hello"))
            names = []
            async for event in conn:
                names.append(type(event).__name__)
                if isinstance(event, TurnComplete):
                    return names
        return []

    with asyncio.Runner() as runner:
        names = runner.run(scenario())
    assert names[-2:] == ["GenerationComplete", "TurnComplete"]
    assert "ModelAudio" in names


def test_malformed_server_messages_are_skipped_and_close_reasons_kept(run: Run) -> None:
    from websockets.asyncio.server import ServerConnection, serve

    from bridge.protocol import ServerInternalError, TurnComplete

    async def scripted(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send(b'{"setupComplete": {}}')
        await ws.send(b"{garbage")
        await ws.send(b'{"serverContent": {"modelTurn": "not an object"}}')
        await ws.send(b'{"serverContent": {"turnComplete": true}}')
        await ws.close(1011, "Deadline expired before operation could complete.")

    async def scenario() -> None:
        async with serve(scripted, "127.0.0.1", 0) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            conn = await connect(CONFIG, Endpoint(base_url=f"ws://127.0.0.1:{port}"))
            assert await conn.recv() == [TurnComplete()]
            with pytest.raises(ServerInternalError, match="Deadline expired") as caught:
                await conn.recv()
            assert caught.value.code == 1011 and caught.value.retryable

    run(scenario())
