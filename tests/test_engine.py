"""Engine parts on their own: playout clock, speaker mixer, uplink ring, metrics, events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from conftest import loop_clock, stall

from _dsp import Resampler
from bridge.engine import (
    EnergyVad,
    FrameSizeError,
    Histogram,
    PlayoutClock,
    UplinkMixer,
    prometheus_text,
)
from bridge.engine._downlink import Downlink
from bridge.engine._publish import Publisher
from bridge.engine._uplink import Uplink
from bridge.engine.events import SessionError, TurnStarted
from bridge.protocol import parse_server_message

Run = Callable[..., Any]
FRAME_BYTES = 960  # 10 ms, 48 kHz mono


def frame(value: int, n_bytes: int = FRAME_BYTES) -> bytes:
    return np.full(n_bytes // 2, value, dtype=np.int16).tobytes()


# -- playout clock -------------------------------------------------------------------


@pytest.mark.realtime
def test_clock_ticks_on_absolute_deadlines_and_skips_after_a_real_stall(run: Run) -> None:
    deadlines: list[float] = []
    stalled = False

    clock = PlayoutClock()

    async def handler(deadline_s: float) -> None:
        nonlocal stalled, missed_before
        deadlines.append(deadline_s)
        if len(deadlines) == 1:  # a loaded machine may be late for the first deadline too
            missed_before = clock.missed_ticks
        if len(deadlines) == 10 and not stalled:
            stalled = True
            time.sleep(0.055)  # block the loop: 5 deadlines go by
        if len(deadlines) == 30:
            # Stop here, so no deadline can be counted missed after the last one seen.
            clock.unsubscribe(token)

    async def scenario() -> PlayoutClock:
        nonlocal token
        token = clock.subscribe(handler)
        while clock.running:
            await asyncio.sleep(0.01)
        await clock.aclose()
        return clock

    token, missed_before = -1, 0

    clock = run(scenario())
    steps = np.round(np.diff(deadlines) * 1000, 6)
    # Every deadline is start + n * 10 ms: no drift, and never two ticks for one deadline.
    assert np.all(steps % 10 == 0) and np.all(steps >= 10)
    # Every deadline not ticked between the first and the last one seen is counted:
    # missed when the loop was late, busy when the handler's previous tick had not run
    # yet (a loaded machine may add its own stalls to the one injected here, so only the
    # injected one is pinned down).
    missed = clock.missed_ticks - missed_before
    assert missed + clock.busy_ticks == int(steps.sum() / 10) - len(steps)
    # After the 55 ms stall the clock went straight to a current deadline: at least the
    # 4 it slept through were skipped, not ticked in a burst.
    assert steps[9] >= 50


def test_clock_skips_the_deadlines_a_stall_missed_and_records_its_lateness(
    run_virtual: Run,
) -> None:
    deadlines: list[float] = []

    async def handler(deadline_s: float) -> None:
        deadlines.append(deadline_s)
        if len(deadlines) == 10:
            stall(0.055)

    async def scenario() -> tuple[PlayoutClock, float]:
        clock = loop_clock()
        start_s = clock.monotonic()
        clock.subscribe(handler)
        await asyncio.sleep(0.3)
        await clock.aclose()
        return clock, start_s

    clock, start_s = run_virtual(scenario())
    ticks = np.round((np.array(deadlines) - start_s) * 1000, 6)
    # The first frame is due one period in; the stall after the 10th (at 100 ms) ends at
    # 155 ms: 110..140 are skipped, not played in a burst, and the clock goes on at 150.
    assert list(ticks[:11]) == [*range(10, 101, 10), 150]
    assert np.all(np.diff(ticks[10:]) == 10)
    assert clock.missed_ticks == 4
    error = clock.deadline_error_us.summary()
    # One sample per tick (the last tick's handler may be cancelled by aclose unrun).
    assert error.count == clock.ticks >= len(deadlines) and error.max == pytest.approx(5000)


def test_one_clock_drives_many_subscribers_and_stops_when_idle(run_virtual: Run) -> None:
    counts = [0, 0, 0]

    def counter(i: int) -> Callable[[float], Any]:
        async def tick(deadline_s: float) -> None:
            counts[i] += 1

        return tick

    async def scenario() -> tuple[bool, bool]:
        clock = loop_clock()
        tokens = [clock.subscribe(counter(i)) for i in range(3)]
        await asyncio.sleep(0.105)
        running = clock.running
        for token in tokens:
            clock.unsubscribe(token)
        await asyncio.sleep(0.05)
        return running, clock.running

    assert run_virtual(scenario()) == (True, False)
    assert counts == [10, 10, 10]


def test_failing_subscriber_does_not_stop_the_others(
    run_virtual: Run, caplog: pytest.LogCaptureFixture
) -> None:
    good = 0

    async def bad(deadline_s: float) -> None:
        raise RuntimeError("transport gone")

    async def fine(deadline_s: float) -> None:
        nonlocal good
        good += 1

    async def scenario() -> int:
        clock = loop_clock()
        clock.subscribe(bad)
        clock.subscribe(fine)
        await asyncio.sleep(5.005)
        await clock.aclose()
        return clock.handler_errors

    with caplog.at_level("ERROR", logger="bridge.engine._clock"):
        errors = run_virtual(scenario())
    assert errors == good == 500
    # Logged the first time, then every 500th: not a traceback per tick.
    assert len(caplog.records) == 1
    assert caplog.records[0].getMessage() == "playout handler failed: transport gone (1 so far)"


# -- speaker mixer -------------------------------------------------------------------


def mixer() -> tuple[UplinkMixer, list[bytes]]:
    out: list[bytes] = []
    return UplinkMixer(FRAME_BYTES, lambda pcm: out.append(bytes(pcm)), idle_ticks=3), out


def test_single_speaker_passes_through_at_once() -> None:
    mix, out = mixer()
    for value in (1, 2, 3):
        mix.push(7, frame(value))
    assert out == [frame(1), frame(2), frame(3)]


def two_speakers() -> tuple[UplinkMixer, list[bytes]]:
    mix, out = mixer()
    mix.push(1, frame(100))  # alone: straight through
    mix.push(2, frame(200))  # joins a period already sent: mixed from the next one
    mix.tick()
    mix.push(1, frame(10))  # both have a frame: mixed at once
    mix.tick()
    assert out == [frame(100), frame(210)]
    return mix, out


def test_two_speakers_out_of_step_give_one_summed_frame_per_period() -> None:
    mix, out = two_speakers()
    mix.push(2, frame(20))  # speaker 2 first this time
    mix.push(1, frame(1))
    mix.tick()
    mix.push(1, frame(2))
    mix.push(1, frame(3))  # two from speaker 1 in one period: the second waits
    mix.push(2, frame(30))
    mix.tick()
    mix.push(2, frame(40))
    mix.tick()
    assert out[2:] == [frame(21), frame(32), frame(43)]


def test_missing_speaker_is_silence_at_the_tick_and_loud_sums_do_not_wrap() -> None:
    mix, out = two_speakers()
    mix.push(1, frame(30000))
    assert len(out) == 2  # waits for speaker 2 ...
    mix.tick()  # ... until the period ends
    mix.push(1, frame(30000))
    mix.push(2, frame(30000))
    assert out[2] == frame(30000)
    loud = np.frombuffer(out[3], dtype=np.int16)
    assert loud.min() > 30000  # soft clip, no wrap to negative


def test_silent_speaker_is_forgotten_and_bad_frames_are_refused() -> None:
    mix, _ = mixer()
    mix.push(1, frame(1))
    mix.push(2, frame(2))
    for _ in range(5):
        mix.tick()
        mix.push(1, frame(1))
    assert mix.n_speakers == 1
    with pytest.raises(FrameSizeError, match="ssrc 9 has 10 bytes; expected 960"):
        mix.push(9, b"\0" * 10)


def test_speaker_far_ahead_loses_its_oldest_frames_with_a_rate_limited_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    mix, out = two_speakers()
    with caplog.at_level("WARNING", logger="bridge.engine._mixer"):
        for i in range(1, 1020):  # speaker 2 went quiet without leaving: 1 piles up
            mix.push(1, frame(i))
    # Nothing mixed before the tick, at most 8 held: the rest were dropped.
    assert mix.dropped_frames == 1019 - 8
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3  # the 1st, 501st and 1001st drop
    assert messages[0].endswith("ssrc 1 is 8 frames ahead (1 so far)")
    mix.tick()
    assert out[-1] == frame(1019 - 7)  # the oldest of the 8 most recent


# -- uplink: chunks, ring hold, exactly-once sends -----------------------------------


def uplink(chunk_ms: int = 20) -> Uplink:
    return Uplink(
        sample_rate_hz=48_000,
        channels=1,
        chunk_ms=chunk_ms,
        ring_capacity_s=1.0,
        vad=EnergyVad(),
        idle_ticks=20,
        histogram_capacity=1024,
    )


@pytest.mark.parametrize("chunk_ms", [20, 40, 60])
def test_uplink_sends_exact_chunks_and_keeps_unsent_audio(run: Run, chunk_ms: int) -> None:
    rng = np.random.default_rng(chunk_ms)
    frames = [rng.integers(-8000, 8000, 480, dtype=np.int16).tobytes() for _ in range(60)]
    up = uplink(chunk_ms)
    sent: list[bytes] = []

    def encode(pcm: Any) -> bytes:
        return bytes(pcm.tobytes())

    async def send(message: bytes) -> None:
        sent.append(message)

    async def broken(message: bytes) -> None:
        raise ConnectionError("socket closed")

    async def scenario() -> None:
        failed = False
        for i, pcm in enumerate(frames):
            up.on_frame(1, pcm)
            if i >= 10 and not failed and up.ring.available >= up.chunk_samples:
                failed = True
                with pytest.raises(ConnectionError):
                    await up.send_pending(encode, broken)  # the socket is gone: nothing is lost
            elif i % 7 == 0:
                await up.send_pending(encode, send)
        assert failed
        await up.send_pending(encode, send, flush=True)

    run(scenario())
    audio = b"".join(sent)
    expected = Resampler(48_000, 16_000).process(b"".join(frames)).tobytes()
    assert audio == expected
    assert all(len(chunk) == chunk_ms * 32 for chunk in sent[:-1])


def test_uplink_mixer_keeps_its_own_period_without_any_playout(run_virtual: Run) -> None:
    async def scenario() -> tuple[int, int]:
        up = Uplink(
            sample_rate_hz=48_000, channels=1, chunk_ms=20, ring_capacity_s=1.0, vad=EnergyVad(),
            idle_ticks=20, histogram_capacity=64, monotonic=asyncio.get_running_loop().time,
        )  # fmt: skip
        up.on_frame(1, frame(100))  # alone: straight through
        up.on_frame(2, frame(200))  # joins: mixed from the next period on, then goes quiet
        period = asyncio.create_task(up.run_mixer_period())
        for _ in range(5):  # speaker 1 goes on, 5 ms into each period
            await asyncio.sleep(0.005)
            up.on_frame(1, frame(1))
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.002)
        period.cancel()
        return up.mixer.frames_out, up.ring.available

    frames_out, ring_samples = run_virtual(scenario())
    # Every frame of speaker 1 went out in its own period, none waited for speaker 2.
    assert frames_out == 6 and ring_samples == 6 * 160


def test_uplink_ring_overflow_drops_oldest_and_counts(run: Run) -> None:
    up = uplink()
    for _ in range(150):  # 1.5 s into a 1 s ring, with no connection
        up.on_frame(1, frame(1000))
    assert up.ring.dropped_samples == 8000
    assert up.depth_ms == 1000


# -- VAD, metrics, events ------------------------------------------------------------


def test_vad_needs_two_loud_frames_and_remembers_the_onset() -> None:
    vad = EnergyVad(-35.0, onset_frames=2, hangover_frames=3)
    quiet = np.full(160, 100, dtype=np.int16)
    loud = np.full(160, 10000, dtype=np.int16)
    assert not vad.update(loud, 1.0)  # one click is not speech
    assert not vad.update(quiet, 1.01)
    assert not vad.update(loud, 1.02)
    assert vad.update(loud, 1.03) and vad.active and vad.onset_s == 1.02
    for t in (1.04, 1.05, 1.06):
        vad.update(quiet, t)
    assert not vad.active and vad.last_loud_s == 1.03 and vad.last_speech_s == 1.03


def test_vad_click_is_loud_but_not_speech() -> None:
    vad = EnergyVad(-35.0, onset_frames=2, hangover_frames=3)
    loud = np.full(160, 10000, dtype=np.int16)
    quiet = np.full(160, 100, dtype=np.int16)
    vad.update(loud, 1.0)
    vad.update(quiet, 1.01)
    assert vad.last_loud_s == 1.0 and np.isnan(vad.last_speech_s)


def test_histogram_percentiles_and_window() -> None:
    h = Histogram(capacity=100)
    values = np.arange(1, 1001, dtype=np.float64)
    h.extend(values)
    s = h.summary()
    assert s.count == 1000 and s.max == 1000 and s.mean == pytest.approx(500.5)
    # Percentiles cover the most recent `capacity` samples.
    assert s.p50 == pytest.approx(np.percentile(values[-100:], 50))


def test_prometheus_text_has_quantiles_counters_and_labels() -> None:
    from bridge.engine import MetricsSnapshot, Summary

    def summary(v: float) -> Summary:
        return Summary(2, v, v, v, v, v)

    snap = MetricsSnapshot(
        *(summary(10.0) for _ in range(12)),
        counters={"underruns": 3},
        gauges={"jitter_depth_ms": 40.0},
    )
    text = prometheus_text([snap, snap], labels=['session="a"', 'session="b"'])
    assert 'gemini_bridge_uplink_processing_seconds{session="a",quantile="0.99"} 1e-05' in text
    assert 'gemini_bridge_underruns_total{session="b"} 3' in text
    assert "# TYPE gemini_bridge_jitter_depth_ms gauge" in text
    assert text.count("# TYPE") == 12 + 2


def test_event_streams_and_listeners_get_every_event_in_order(run: Run) -> None:
    publisher = Publisher()
    seen: list[Any] = []
    publisher.add_listener(seen.append)
    publisher.add_listener(lambda e: 1 / 0)  # a broken listener is logged, not fatal

    async def scenario() -> list[Any]:
        stream = publisher.stream()
        publisher.publish(TurnStarted(1))
        publisher.publish(SessionError("x"))
        publisher.close()
        publisher.publish(TurnStarted(2))  # after close: dropped
        return [event async for event in stream]

    assert run(scenario()) == [TurnStarted(1), SessionError("x")]
    assert seen == [TurnStarted(1), SessionError("x")]


def test_event_stream_that_is_not_read_keeps_only_the_newest_events(
    run: Run, caplog: pytest.LogCaptureFixture
) -> None:
    publisher = Publisher(max_queued_events=5)

    async def scenario() -> tuple[list[Any], list[Any], int]:
        stream = publisher.stream()
        reader = publisher.stream()
        got: list[Any] = []
        for i in range(12):
            publisher.publish(TurnStarted(i))
            got.append(await anext(reader))  # this one keeps up: loses nothing
        first = [await anext(stream) for _ in range(5)]
        for i in range(12, 20):  # a second overflow, after it caught up
            publisher.publish(TurnStarted(i))
            got.append(await anext(reader))
        publisher.close()
        return first + [e async for e in stream], got, stream.dropped

    with caplog.at_level("WARNING", logger="bridge.engine._publish"):
        kept, got, dropped = run(scenario())
    assert got == [TurnStarted(i) for i in range(20)]
    assert kept == [TurnStarted(i) for i in (*range(7, 12), *range(15, 20))]
    assert dropped == publisher.dropped_events == 7 + 3
    assert len(caplog.records) == 2  # once per overflow, not per dropped event


def test_server_events_used_by_the_session_parse() -> None:
    events = parse_server_message(b'{"goAway": {"timeLeft": "9.5s"}}')
    assert events[0].time_left_s == 9.5  # type: ignore[union-attr]


def test_metrics_endpoint_serves_prometheus_text(run: Run) -> None:
    from bridge.engine import MetricsSnapshot, Summary, serve_metrics

    snap = MetricsSnapshot(*(Summary(1, 5.0, 5.0, 5.0, 5.0, 5.0) for _ in range(12)))

    async def get(port: int, path: str) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        data = await reader.read()
        writer.close()
        return data

    async def scenario() -> tuple[bytes, bytes]:
        server = await serve_metrics(lambda: {"chat-1": snap})
        port = server.sockets[0].getsockname()[1]
        try:
            return await get(port, "/metrics"), await get(port, "/other")
        finally:
            server.close()
            await server.wait_closed()

    ok, missing = run(scenario())
    assert ok.startswith(b"HTTP/1.1 200 OK")
    assert b'gemini_bridge_barge_in_seconds{session="chat-1",quantile="0.5"} 0.005' in ok
    assert missing.startswith(b"HTTP/1.1 404")


# -- WAV transport -------------------------------------------------------------------


def test_wav_transport_converts_any_file_and_refuses_bad_input(tmp_path: Any) -> None:
    import soundfile as sf

    from bridge.transports.wav import WavError, WavTransport, read_audio

    t = np.arange(22_050) / 22_050
    tone = (0.5 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
    path = tmp_path / "tone.wav"
    sf.write(path, np.stack([tone, tone], axis=1), 22_050, subtype="PCM_16")
    pcm = np.frombuffer(read_audio(path, 48_000, 1), dtype=np.int16)
    assert abs(pcm.size - 48_000) <= 2  # one second stays one second, aligned at the start
    spectrum = np.abs(np.fft.rfft(pcm[2000:46000]))
    assert abs(np.argmax(spectrum) * 48_000 / 44_000 - 440) < 2
    transport = WavTransport(path, sample_rate_hz=48_000)
    assert transport.queued_frames == -(-pcm.size // 480)  # padded to whole 10 ms frames

    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF nonsense")
    with pytest.raises(WavError, match=r"broken\.wav: cannot read audio"):
        WavTransport(broken)
    with pytest.raises(WavError, match="sample_rate_hz"):
        WavTransport(sample_rate_hz=12_345)
    with pytest.raises(WavError, match="whole number"):
        WavTransport(b"\0\0\0", sample_rate_hz=48_000)


def test_wav_transport_rejects_wrong_sized_output_frames(run: Run) -> None:
    from bridge.transports.wav import WavError, WavTransport

    async def scenario() -> None:
        transport = WavTransport(sample_rate_hz=48_000, channels=2)
        with pytest.raises(WavError, match="1000 bytes; expected 1920"):
            await transport.send_frame(b"\0" * 1000)
        await transport.send_frame(b"\0" * 1920)
        assert len(transport.heard) == 1

    run(scenario())


def test_odd_length_reply_audio_plays_its_whole_samples_and_is_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    downlink = Downlink(
        sample_rate_hz=48_000, channels=1, target_ms=10, max_ms=10_000, histogram_capacity=64
    )
    even = Downlink(
        sample_rate_hz=48_000, channels=1, target_ms=10, max_ms=10_000, histogram_capacity=64
    )
    pcm = (np.sin(np.arange(2400) / 10) * 8000).astype(np.int16).tobytes()
    with caplog.at_level("WARNING"):
        accepted = downlink.push(pcm + b"\x7f")
    # The stray byte is dropped; every whole sample is queued exactly as without it.
    assert accepted == even.push(pcm) == 4800
    assert downlink.odd_messages == 1 and even.odd_messages == 0
    assert "not whole int16 samples: 4801 bytes: playing 2400 samples" in caplog.text
