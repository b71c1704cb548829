"""Client details: endpoint URLs and headers, secrets, compression, token minting, and
reconnection (`async for conn in connect(...)`, the retry policy) against the emulator."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from bridge import Secret
from bridge.client import (
    Endpoint,
    LiveConnection,
    RetryEvent,
    RetryPolicy,
    connect,
    mint_token,
    token_request_body,
)
from bridge.emulator import Emulator, EmulatorConfig
from bridge.protocol import (
    AuthError,
    ConfigError,
    ConnectFailed,
    FunctionResponse,
    GoAway,
    InvalidArgument,
    LiveConfig,
    LiveConnectionClosed,
    LocalProtocolError,
    PolicyViolation,
    QuotaExceeded,
    ServerInternalError,
    SessionResumptionUpdate,
    TurnComplete,
)

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
                    CONFIG, Endpoint(base_url=f"ws://127.0.0.1:{port}"), connect_timeout_s=0.05
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
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
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

    async def scenario() -> list[str]:
        async with (
            Emulator(EmulatorConfig(think_time_s=0.0, speed=50.0)) as emu,
            connect(CONFIG, Endpoint(base_url=emu.url)) as conn,
        ):
            await conn.send_text("hello")
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


# -- reconnection: `async for conn in connect(...)` -------------------------------------

FAST = EmulatorConfig(think_time_s=0.0, speed=50.0)


def no_retry(event: RetryEvent) -> None:
    raise AssertionError(f"unexpected retry: {event}")


def closed_port() -> int:
    """A loopback port nothing listens on: connecting to it is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def next_handle(conn: LiveConnection) -> str:
    async for event in conn:
        if isinstance(event, SessionResumptionUpdate) and event.resumable and event.handle:
            return event.handle
    raise AssertionError("the connection ended without a resumption handle")


def test_async_for_moves_to_a_new_connection_that_resumes_the_session(run: Run) -> None:
    async def scenario() -> None:
        async with Emulator(FAST) as emu:
            seen: list[LiveConnection] = []
            async for conn in connect(CONFIG, Endpoint(base_url=emu.url), on_retry=no_retry):
                seen.append(conn)
                assert conn.setup_complete.session_id == "session-1"
                if len(seen) == 3:
                    break
                handle = await next_handle(conn)
                assert conn.protocol.resumption_handle == handle
            first, second, third = seen
            assert not first.resumed and second.resumed and third.resumed
            with pytest.raises(LiveConnectionClosed) as caught:  # closed by the move
                await first.send_audio(b"\0\0")
            assert caught.value.code == 1000
            await third.send_text("still the same session")
            (record,) = emu.sessions
            assert record.n_connections == 3 and len(record.resumed_with) == 2
            await third.close()

    run(scenario())


def test_a_server_close_ends_the_body_and_the_next_connection_resumes(run: Run) -> None:
    clock_s = 1000.0

    async def scenario() -> None:
        emulator = replace(FAST, session_seconds=0.1, go_away_s=0.05)
        async with Emulator(emulator) as emu:
            closes: list[int] = []
            connecting = connect(CONFIG, Endpoint(base_url=emu.url), monotonic=lambda: clock_s)
            async for conn in connecting:
                if len(closes) == 2:
                    break
                try:
                    async for event in conn:
                        if isinstance(event, GoAway):
                            # The one goAway deadline, on the caller's clock.
                            deadline_s = clock_s + event.time_left_s
                            assert conn.protocol.go_away_deadline_s == deadline_s
                except LiveConnectionClosed as exc:
                    closes.append(exc.code)
                    assert conn.protocol.go_away_deadline_s is None  # it ended with the socket
            assert closes == [1008, 1008] and conn.resumed
            assert emu.sessions[0].n_connections == 3
            await connecting.aclose()
            with pytest.raises(StopAsyncIteration):
                await anext(connecting)

    run(scenario())


def test_failed_attempts_back_off_and_the_last_error_raises_when_the_budget_is_spent(
    run: Run,
) -> None:
    events: list[RetryEvent] = []
    slept: list[float] = []

    async def virtual_sleep(delay_s: float) -> None:
        slept.append(delay_s)

    async def scenario() -> None:
        endpoint = Endpoint(base_url=f"ws://127.0.0.1:{closed_port()}")
        connecting = connect(
            CONFIG,
            endpoint,
            retry=RetryPolicy(jitter=0.0),  # today's engine defaults: 8 attempts, 0.2 s to 10 s
            on_retry=events.append,
            sleep=virtual_sleep,
        )
        with pytest.raises(ConnectFailed, match="cannot connect"):
            async for _ in connecting:
                raise AssertionError("nothing listens there")

    run(scenario())
    assert [e.attempt for e in events] == [1, 2, 3, 4, 5, 6, 7]
    assert [e.delay_s for e in events] == slept == [0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0]
    assert all(isinstance(e.error, ConnectFailed) and not e.handle_dropped for e in events)


def test_a_transient_refusal_is_retried_until_the_server_takes_the_connection(run: Run) -> None:
    events: list[RetryEvent] = []

    async def scenario() -> None:
        async with Emulator(replace(FAST, max_sessions=1)) as emu:
            endpoint = Endpoint(base_url=emu.url)
            holder = await connect(CONFIG, endpoint)

            def free_the_slot(event: RetryEvent) -> None:
                events.append(event)
                if len(events) == 1:
                    asyncio.get_running_loop().create_task(holder.close())

            patient = RetryPolicy(max_attempts=None, initial_delay_s=0.005, max_delay_s=0.005)
            async for conn in connect(CONFIG, endpoint, retry=patient, on_retry=free_the_slot):
                await conn.send_text("hello")
                await conn.close()
                break
            assert len(emu.sessions) == 2

    run(scenario())
    assert events and all(isinstance(e.error, QuotaExceeded) for e in events)
    assert [e.attempt for e in events] == list(range(1, len(events) + 1))


def test_a_refused_handle_is_dropped_once_for_a_fresh_session(run: Run) -> None:
    events: list[RetryEvent] = []

    async def scenario() -> None:
        async with Emulator(FAST) as emu:
            connecting = connect(
                CONFIG,
                Endpoint(base_url=emu.url),
                resumption_handle="expired-handle",
                on_retry=events.append,
            )
            conn = await anext(connecting)
            assert not conn.resumed and connecting.protocol.resumption_handle is None
            assert emu.sessions[0].resumed_with == []
            await connecting.aclose()

    run(scenario())
    (event,) = events
    assert isinstance(event.error, InvalidArgument) and "handle" in str(event.error)
    assert event.handle_dropped and event.attempt == 1 and event.delay_s == 0.0


@pytest.mark.parametrize(
    ("emulator", "endpoint_key", "error"),
    [
        (replace(FAST, api_key=Secret("right")), "wrong", InvalidArgument),
        (replace(FAST, models=("other-model",)), None, PolicyViolation),
    ],
    ids=["1007 bad key", "1008 unknown model"],
)
def test_fatal_closes_raise_out_of_the_loop_at_once(
    run: Run, emulator: EmulatorConfig, endpoint_key: str | None, error: type[Exception]
) -> None:
    async def scenario() -> None:
        async with Emulator(emulator) as emu:
            key = Secret(endpoint_key) if endpoint_key else None
            endpoint = Endpoint(base_url=emu.url, api_key=key)
            with pytest.raises(error):
                async for _ in connect(CONFIG, endpoint, on_retry=no_retry):
                    pytest.fail("the server refused the setup")

    run(scenario())


def test_process_exception_decides_what_is_fatal(run: Run) -> None:
    class NoNetworkRetries(RetryPolicy):
        def process_exception(self, exc: BaseException) -> BaseException | None:
            if isinstance(exc, ConnectFailed):
                return RuntimeError("offline")
            return super().process_exception(exc)

    async def scenario() -> None:
        endpoint = Endpoint(base_url=f"ws://127.0.0.1:{closed_port()}")
        with pytest.raises(RuntimeError, match="offline") as caught:
            await anext(connect(CONFIG, endpoint, retry=NoNetworkRetries(), on_retry=no_retry))
        assert isinstance(caught.value.__cause__, ConnectFailed)
        # `await connect()` is one attempt: no retries whatever the policy.
        with pytest.raises(ConnectFailed):
            await connect(CONFIG, endpoint, on_retry=no_retry)

    run(scenario())


def test_retry_policy_defaults_and_bad_values() -> None:
    policy = RetryPolicy()
    assert (policy.max_attempts, policy.initial_delay_s, policy.max_delay_s) == (8, 0.2, 10.0)
    assert policy.process_exception(ConnectFailed("x")) is None
    assert policy.process_exception(ServerInternalError(1011)) is None
    for fatal in (AuthError("x"), ConfigError("x"), InvalidArgument(1007), PolicyViolation(1008)):
        assert policy.process_exception(fatal) is fatal
    for field, value, fragment in (
        ("max_attempts", 0, "max_attempts"),
        ("initial_delay_s", -1.0, "initial_s"),
        ("max_delay_s", 0.01, "max_s"),
        ("factor", 0.5, "factor"),
    ):
        with pytest.raises(ConfigError, match=fragment):
            RetryPolicy(**{field: value})


def test_local_protocol_errors_send_nothing(run: Run) -> None:
    async def scenario() -> None:
        async with Emulator(FAST) as emu:
            async with connect(CONFIG, Endpoint(base_url=emu.url)) as conn:
                with pytest.raises(LocalProtocolError, match="'nope'"):
                    await conn.send_tool_response([FunctionResponse("nope", "f", {})])
                with pytest.raises(LocalProtocolError, match="activityStart"):
                    await conn.send_activity_start()
                await conn.send_text("hello")
                async for event in conn:
                    if isinstance(event, TurnComplete):
                        break
            (record,) = emu.sessions
            assert [turn.text for turn in record.turns] == ["hello"]

    run(scenario())
