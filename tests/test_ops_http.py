"""The operational HTTP surface: /metrics, /livez, /readyz, and a server a client cannot hold.

The server is the real one on loopback; the hostile-client tests run in virtual time, so
a read timeout of seconds passes at once and a server that waits forever fails the
test's own (virtual) timeout instead of hanging it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bridge._http import Response, parse_addr, serve_http
from bridge.config import BridgeConfig, ConfigError


async def ok() -> Response:
    return Response(200, "ok\n")


async def exchange(port: int, request: bytes) -> bytes:
    """Send `request` raw, read until the server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    data = await reader.read()
    writer.close()
    return data


def test_parse_addr_defaults_to_loopback_and_names_bad_addresses() -> None:
    assert parse_addr("9464") == ("127.0.0.1", 9464)
    assert parse_addr(":9464") == ("127.0.0.1", 9464)
    assert parse_addr("0.0.0.0:9464") == ("0.0.0.0", 9464)
    assert parse_addr("[::1]:0") == ("::1", 0)
    for bad, why in (
        ("host:port", "port must be a number"),
        ("1.2.3.4:70000", "port must be a number"),
        ("::1:9464", "IPv6 host in brackets"),
        ("[::1:9464", r"unclosed .\[."),
    ):
        with pytest.raises(ValueError, match=why) as caught:
            parse_addr(bad)
        assert repr(bad) in str(caught.value)


def test_the_address_comes_from_bridge_http_addr_and_a_bad_one_names_the_key() -> None:
    config = BridgeConfig.load(env={"BRIDGE_HTTP_ADDR": "0.0.0.0:9464"})
    assert config.http.addr == "0.0.0.0:9464" and config.drain.timeout_s == 30.0
    with pytest.raises(ConfigError, match=r"http\.addr: .*port.*\$BRIDGE_HTTP_ADDR"):
        BridgeConfig.load(env={"BRIDGE_HTTP_ADDR": "9464x"})


def test_methods_paths_and_head(run_virtual: Any) -> None:
    async def scenario() -> list[bytes]:
        server = await serve_http({"/livez": ok})
        port = server.sockets[0].getsockname()[1]
        try:
            return [
                await exchange(port, b"GET /livez?verbose=1 HTTP/1.1\r\nHost: x\r\n\r\n"),
                await exchange(port, b"HEAD /livez HTTP/1.1\r\n\r\n"),
                await exchange(port, b"POST /livez HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
                await exchange(port, b"GET /nope HTTP/1.1\r\n\r\n"),
                await exchange(port, b"GARBAGE\r\n\r\n"),
            ]
        finally:
            server.close()

    get, head, post, missing, garbage = run_virtual(scenario())
    assert get.startswith(b"HTTP/1.1 200 OK") and get.endswith(b"\r\n\r\nok\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert head.endswith(b"Content-Length: 3\r\nConnection: close\r\n\r\n")  # no body
    assert post.startswith(b"HTTP/1.1 405") and b"Allow: GET, HEAD" in post
    assert missing.startswith(b"HTTP/1.1 404") and b"/livez" in missing
    assert garbage.startswith(b"HTTP/1.1 400")


def test_an_oversized_request_is_refused_and_the_server_goes_on(run_virtual: Any) -> None:
    async def scenario() -> tuple[bytes, bytes]:
        server = await serve_http({"/livez": ok}, max_request_bytes=1024)
        port = server.sockets[0].getsockname()[1]
        try:
            huge = b"GET /livez HTTP/1.1\r\nX-Filler: " + b"a" * 20_000 + b"\r\n\r\n"
            return await exchange(port, huge), await exchange(port, b"GET /livez HTTP/1.1\r\n\r\n")
        finally:
            server.close()

    refused, after = run_virtual(scenario())
    assert refused.startswith(b"HTTP/1.1 431")
    assert after.startswith(b"HTTP/1.1 200")


def test_a_slow_client_is_cut_off_and_does_not_hold_the_server(run_virtual: Any) -> None:
    async def scenario() -> tuple[bytes, bytes, float]:
        loop = asyncio.get_running_loop()
        server = await serve_http({"/livez": ok}, read_timeout_s=5.0)
        port = server.sockets[0].getsockname()[1]
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            started_s = loop.time()
            writer.write(b"GET /livez HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
            # Meanwhile the server still answers others.
            other = await exchange(port, b"GET /livez HTTP/1.1\r\n\r\n")
            cut = await reader.read()
            waited_s = loop.time() - started_s
            writer.close()
            return other, cut, waited_s
        finally:
            server.close()

    other, cut, waited_s = run_virtual(scenario(), timeout_s=60)
    assert other.startswith(b"HTTP/1.1 200")
    assert cut.startswith(b"HTTP/1.1 408") and waited_s == pytest.approx(5.0, abs=0.1)


def test_silent_connections_beyond_the_limit_are_turned_away(run_virtual: Any) -> None:
    async def scenario() -> tuple[bytes, bytes]:
        server = await serve_http({"/livez": ok}, max_connections=4, read_timeout_s=5.0)
        port = server.sockets[0].getsockname()[1]
        try:
            silent = [await asyncio.open_connection("127.0.0.1", port) for _ in range(4)]
            await asyncio.sleep(0.01)  # the server has accepted them all
            turned_away = await exchange(port, b"GET /livez HTTP/1.1\r\n\r\n")
            await asyncio.sleep(6.0)  # the silent ones time out and free their places
            after = await exchange(port, b"GET /livez HTTP/1.1\r\n\r\n")
            for _, writer in silent:
                writer.close()
            return turned_away, after
        finally:
            server.close()

    turned_away, after = run_virtual(scenario())
    assert turned_away.startswith(b"HTTP/1.1 503")
    assert after.startswith(b"HTTP/1.1 200")


def test_a_client_that_does_not_read_the_answer_is_dropped(run_virtual: Any) -> None:
    body = "x" * 32_000_000  # far more than the socket buffers take

    async def big() -> Response:
        return Response(200, body)

    async def scenario() -> tuple[bytes, bytes]:
        server = await serve_http(
            {"/big": big, "/livez": ok}, max_connections=1, write_timeout_s=5.0
        )
        port = server.sockets[0].getsockname()[1]
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /big HTTP/1.1\r\n\r\n")  # and never reads
            await asyncio.sleep(1.0)
            while_held = await exchange(port, b"GET /livez HTTP/1.1\r\n\r\n")
            await asyncio.sleep(5.0)
            after = await exchange(port, b"GET /livez HTTP/1.1\r\n\r\n")
            writer.close()
            return while_held, after
        finally:
            server.close()

    while_held, after = run_virtual(scenario())
    assert while_held.startswith(b"HTTP/1.1 503")  # its one place is taken...
    assert after.startswith(b"HTTP/1.1 200")  # ...until the write timeout frees it


def test_a_failing_route_is_a_500_naming_the_error_type(run_virtual: Any) -> None:
    async def broken() -> Response:
        raise RuntimeError("details stay in the log")

    async def scenario() -> bytes:
        server = await serve_http({"/metrics": broken})
        port = server.sockets[0].getsockname()[1]
        try:
            return await exchange(port, b"GET /metrics HTTP/1.1\r\n\r\n")
        finally:
            server.close()

    answer = run_virtual(scenario())
    assert answer.startswith(b"HTTP/1.1 500") and answer.endswith(b"RuntimeError\n")
    assert b"details" not in answer
