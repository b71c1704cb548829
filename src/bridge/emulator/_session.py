"""One emulated Live connection: setup, turn detection, replies, tools, barge-in, goAway."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Any

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from ._audio import REPLY_RATE_HZ, resample_int16, tone
from ._config import EmulatorConfig
from ._handles import HandleRegistry, LogicalSession
from ._lifetime import Ending, plan_ending, sleep_until
from ._modes import as_spoken, caption, send_input_transcript
from ._pieces import UtterancePieces
from ._records import SessionRecord, TurnRecord
from ._reply import stream_audio
from ._setup import declared_functions
from ._tools import FunctionCalls
from ._usage import usage_metadata
from ._vad import EnergyVad
from ._wire import WireError, b64decode, close_reason, decode_message, rate_from_mime

log = logging.getLogger(__name__)


class EmulatedConnection:
    """Serves one WebSocket after its setup was accepted."""

    def __init__(
        self,
        config: EmulatorConfig,
        handles: HandleRegistry,
        ws: ServerConnection,
        session: LogicalSession,
        setup: dict[str, Any],
        rng: random.Random,
    ) -> None:
        self.config = config
        self.rng = rng
        self.handles = handles
        self.ws = ws
        self.session = session
        self.record: SessionRecord = session.record
        self.setup = setup
        self.functions = declared_functions(setup)
        modalities = (setup.get("generationConfig") or {}).get("responseModalities") or ["AUDIO"]
        self.text_replies = "AUDIO" not in modalities
        realtime = setup.get("realtimeInputConfig") or {}
        self.detection: dict[str, Any] = realtime.get("automaticActivityDetection") or {}
        self.manual = bool(self.detection.get("disabled", False))
        self.barge_in = realtime.get("activityHandling") != "NO_INTERRUPTION"
        self.vad: EnergyVad | None = None
        self.pieces = None
        if config.piece_pause_ms is not None and not self.manual:
            before = sum(self.record.uplink_audio_by_connection[:-1]) // 2
            self.pieces = UtterancePieces(
                config.piece_pause_ms, start_sample=before, delay_ms=config.piece_delay_ms
            )
        self.activity_open = False
        self.manual_audio = bytearray()
        self.manual_rate_hz = 16000
        self.reply_tasks: list[asyncio.Task[None]] = []
        self.current_turn: TurnRecord | None = None
        self.calls = FunctionCalls(setup, self.send)
        self.speech_bytes = 0
        """Audio of the turn being spoken, for interim transcriptions."""
        self.server_closed = False
        """Whether this side ended the connection (a reply cut then is the server's doing)."""
        self.unbilled_audio_s = 0.0
        """Input audio received since the last usage report: billed by duration, speech
        or silence alike."""
        self.transcribing: asyncio.Task[None] | None = None
        """The current turn's input transcription, when it lags the reply."""

    async def send(self, message: dict[str, Any]) -> None:
        """Server JSON goes out in binary frames, as Google sends it."""
        await self.ws.send(orjson.dumps(message))

    async def send_handle(self) -> None:
        if self.config.resumption_handles:
            handle = self.handles.issue(self.session)
            await self.send({"sessionResumptionUpdate": {"newHandle": handle, "resumable": True}})

    async def end_later(self, ending: Ending) -> None:
        """End the connection as planned: goAway first if announced, then close or drop.

        A session that ends with it cannot be resumed from the goAway on: resumption does
        not extend a session past its limit."""
        try:
            if ending.go_away:
                # A connection that began inside the window is told what is left of it.
                go_away_s = self.config.scaled(self.config.go_away_s)
                left_s = max(0.0, min(go_away_s, ending.at_s - asyncio.get_running_loop().time()))
                await sleep_until(ending.at_s - left_s)
                if ending.ends_session:
                    self.session.ended = ending.reason
                await self.send({"goAway": {"timeLeft": f"{left_s:g}s"}})
            await sleep_until(ending.at_s)
            if ending.ends_session:
                self.session.ended = ending.reason
            self.server_closed = True
            if ending.abort:
                self.ws.transport.abort()
            else:
                await self.ws.close(ending.code, ending.reason)
        except ConnectionClosed:
            pass

    async def serve(self) -> None:
        """Handle client messages until the connection closes."""
        loop = asyncio.get_running_loop()
        ending = plan_ending(self.config, self.session, self.setup, loop.time(), self.rng)
        timer = None if ending is None else asyncio.create_task(self.end_later(ending))
        try:
            async for data in self.ws:
                try:
                    await self.dispatch(data)
                except WireError as exc:
                    self.server_closed = True
                    await self.ws.close(exc.code, close_reason(str(exc)))
                    return
        except ConnectionClosed:
            pass
        finally:
            if timer is not None:
                timer.cancel()
            if self.current_turn is not None:
                self.current_turn.cut_by = "server" if self.server_closed else "client"
            await self.stop_reply()

    async def dispatch(self, data: bytes | str) -> None:
        key, body = decode_message(data)
        if key == "setup":
            raise WireError("Setup must be the first and only setup message.")
        entry: dict[str, Any] = {key: body}
        self.record.messages.append(entry)
        if key == "realtimeInput":
            await self.realtime_input(body)
        elif key == "clientContent":
            await self.client_content(body)
        elif key == "toolResponse":
            await self.tool_response(body)

    async def realtime_input(self, body: dict[str, Any]) -> None:
        blobs = []
        if "audio" in body:
            blobs.append(body["audio"])
        blobs.extend(body.get("mediaChunks") or [])
        for blob in blobs:
            if not isinstance(blob, dict):
                raise WireError("Invalid value at 'realtime_input.audio'.")
            mime = blob.get("mimeType", "audio/pcm;rate=16000")
            if isinstance(mime, str) and mime.startswith(("image/", "video/")):
                continue
            rate_hz = rate_from_mime(mime)
            pcm = b64decode(blob.get("data", ""))
            blob["data"] = None
            blob["dataBytes"] = len(pcm)
            if len(pcm) % 2:
                raise WireError("Invalid audio: odd byte count for 16-bit PCM.")
            await self.audio(pcm, rate_hz)
        if "text" in body:
            text = body["text"]
            if not isinstance(text, str):
                raise WireError("Invalid value at 'realtime_input.text'.")
            await self.interrupt()
            self.start_reply(self.new_turn(b"", 16000, text))
        if "activityStart" in body:
            if not self.manual:
                raise WireError(
                    "activityStart is only allowed when automatic activity detection is disabled."
                )
            self.activity_open = True
            self.manual_audio = bytearray()
            await self.interrupt()
        if "activityEnd" in body:
            if not self.manual:
                raise WireError(
                    "activityEnd is only allowed when automatic activity detection is disabled."
                )
            if self.activity_open:
                self.activity_open = False
                self.start_reply(self.new_turn(bytes(self.manual_audio), self.manual_rate_hz))
        if body.get("audioStreamEnd") and self.vad is not None and self.vad.speaking:
            await self.send_pieces(b"", turn_ended=True)
            speech = self.vad.end_turn()
            self.start_reply(self.new_turn(bytes(speech), self.vad.sample_rate_hz))

    async def audio(self, pcm: bytes, rate_hz: int) -> None:
        self.unbilled_audio_s += len(pcm) / 2 / rate_hz
        self.record.uplink_audio += pcm
        self.record.uplink_audio_by_connection[-1] += len(pcm)
        if self.config.record_audio_s is not None:
            self.record.trim(int(self.config.record_audio_s * rate_hz) * 2, n_messages=1000)
        if self.manual:
            if self.activity_open:
                self.manual_audio += pcm
                self.manual_rate_hz = rate_hz
            return
        if self.vad is None or self.vad.sample_rate_hz != rate_hz:
            self.vad = EnergyVad(
                sample_rate_hz=rate_hz,
                prefix_padding_ms=self.detection.get(
                    "prefixPaddingMs", self.config.prefix_padding_ms
                ),
                silence_duration_ms=self.detection.get(
                    "silenceDurationMs", self.config.silence_duration_ms
                ),
                start_sensitivity=self.detection.get("startOfSpeechSensitivity"),
                end_sensitivity=self.detection.get("endOfSpeechSensitivity"),
            )
        result = self.vad.feed(pcm)
        if result.started and self.barge_in:
            await self.interrupt()
        await self.interim(len(pcm) if self.vad.speaking else 0, rate_hz)
        await self.send_pieces(pcm, turn_ended=result.ended)
        if result.ended:
            self.start_reply(self.new_turn(bytes(result.speech), rate_hz))

    async def send_pieces(self, pcm: bytes, *, turn_ended: bool) -> None:
        """Incremental inputTranscription: a piece per utterance heard (`_pieces.py`)."""
        if self.pieces is not None and self.vad is not None:
            await self.pieces.send(self.send, pcm, self.vad.sample_rate_hz, turn_ended=turn_ended)

    async def interim(self, n_bytes: int, rate_hz: int) -> None:
        """Live captions: interimInputTranscription every `interim_ms` of speech."""
        every_ms = self.config.interim_ms
        if every_ms is None:
            return
        if not n_bytes:
            self.speech_bytes = 0
            return
        every_bytes = rate_hz * every_ms // 1000 * 2
        before, self.speech_bytes = self.speech_bytes, self.speech_bytes + n_bytes
        if self.speech_bytes // every_bytes > before // every_bytes:
            n = self.speech_bytes // every_bytes
            heard = caption(self.config, self.speech_bytes / 2 / rate_hz, n)
            await self.send({"serverContent": {"interimInputTranscription": {"text": heard}}})

    async def client_content(self, body: dict[str, Any]) -> None:
        turns = body.get("turns") or []
        if not isinstance(turns, list):
            raise WireError("Invalid value at 'client_content.turns'.")
        await self.interrupt()
        if body.get("turnComplete"):
            texts = [
                part.get("text", "")
                for turn in turns
                if isinstance(turn, dict)
                for part in turn.get("parts") or []
                if isinstance(part, dict)
            ]
            self.start_reply(self.new_turn(b"", 16000, " ".join(t for t in texts if t)))

    async def tool_response(self, body: dict[str, Any]) -> None:
        responses = body.get("functionResponses") or []
        if not isinstance(responses, list):
            raise WireError("Invalid value at 'tool_response.function_responses'.")
        for index, response in enumerate(responses):
            if not isinstance(response, dict) or not response.get("id"):
                raise WireError("Invalid value at 'tool_response.function_responses.id'.")
            aside = self.calls.answered(index, response)
            self.record.tool_responses.append(response)
            if aside is None or aside[0] == "SILENT":
                continue
            scheduling, said = aside
            if scheduling == "INTERRUPT":
                await self.interrupt()
            turn = self.new_turn(b"", 16000)
            turn.result = said
            self.start_reply(turn)  # WHEN_IDLE: queued behind the reply in progress

    def usage(self, turn: TurnRecord) -> dict[str, Any]:
        """`usageMetadata` for a turn, billing the input audio not billed yet."""
        audio_in_s, self.unbilled_audio_s = self.unbilled_audio_s, 0.0
        return usage_metadata(audio_in_s, turn.text, turn.reply_audio_bytes)

    def new_turn(self, audio: bytes, rate_hz: int, text: str | None = None) -> TurnRecord:
        turn = TurnRecord(
            index=len(self.record.turns),
            audio=bytearray(audio),
            sample_rate_hz=rate_hz,
            text=text,
        )
        self.record.turns.append(turn)
        return turn

    def replying(self) -> bool:
        """Whether a reply (or a queued one) is still in progress."""
        self.reply_tasks = [task for task in self.reply_tasks if not task.done()]
        return bool(self.reply_tasks)

    def start_reply(self, turn: TurnRecord) -> None:
        previous = self.reply_tasks[-1] if self.replying() else None
        self.reply_tasks.append(asyncio.create_task(self.reply(turn, previous)))

    async def stop_reply(self) -> None:
        tasks, self.reply_tasks = self.reply_tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await task

    async def interrupt(self) -> None:
        """Barge-in: stop the reply in progress, cancel its tool calls, tell the client."""
        if not self.replying():
            return
        turn = self.current_turn
        await self.stop_reply()
        await self.calls.cancel_waited_on()
        if turn is not None:
            turn.interrupted = True
            self.current_turn = None
        await self.send({"serverContent": {"interrupted": True}})
        message: dict[str, Any] = {"serverContent": {"turnComplete": True}}
        if turn is not None:
            message["usageMetadata"] = self.usage(turn)
        await self.send(message)

    def function_for(self, turn: TurnRecord) -> str | None:
        if not self.functions or turn.result is not None:
            return None
        if turn.text:
            for name in self.functions:
                if name in turn.text:
                    return name
            return None
        target = self.config.tool_on_audio_turn
        return target if target in self.functions else None

    async def reply(self, turn: TurnRecord, previous: asyncio.Task[None] | None) -> None:
        """Answer one turn; a connection that goes away mid-reply ends it quietly."""
        try:
            await self.reply_body(turn, previous)
        except ConnectionClosed:
            pass
        except Exception:
            log.exception("emulator reply failed; closing the connection with 1011")
            await self.ws.close(1011, "Internal error encountered.")
        finally:
            if self.transcribing is not None:
                self.transcribing.cancel()  # a transcript still lagging: the turn is over
                self.transcribing = None

    async def reply_body(self, turn: TurnRecord, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:
            # wait() neither raises the previous reply's error nor hides our cancellation.
            await asyncio.wait([previous])
        self.current_turn = turn
        config = self.config
        if turn.audio and self.pieces is None:
            seconds = len(turn.audio) / 2 / turn.sample_rate_hz
            heard = config.input_transcript or f"[speech {seconds:.2f} s]"
            lag_s = config.input_transcript_lag_s
            self.transcribing = await send_input_transcript(self.send, heard, lag_s)
        said = turn.result or ""
        function = self.function_for(turn)
        if function is not None:
            call_id = f"call-{turn.index}-{function}"
            turn.tool_calls.append(call_id)
            said = await self.calls.call(call_id, function, {"text": turn.text or ""}) or ""
        await asyncio.sleep(config.think_time_s)
        if self.text_replies:
            text = said or (f"You said: {turn.text}" if turn.text else "[audio received]")
            await self.send({"serverContent": {"modelTurn": {"parts": [{"text": text}]}}})
        else:
            if config.reply == "echo" and turn.audio:
                audio = resample_int16(bytes(turn.audio), turn.sample_rate_hz)
            else:
                audio = tone(config.tone_s, config.tone_hz)
            await stream_audio(self.send, audio, turn, config, self.rng)
            reply_s = len(audio) / 2 / REPLY_RATE_HZ
            text = said or (
                f"[echo {reply_s:.2f} s]"
                if config.reply == "echo" and turn.audio
                else f"[tone {reply_s:.2f} s]"
            )
            text = as_spoken(self.setup, text)
            await self.send(
                {"serverContent": {"outputTranscription": {"text": text, "finished": True}}}
            )
        if self.transcribing is not None:
            await self.transcribing
        await self.send({"serverContent": {"generationComplete": True}})
        await self.send(
            {"serverContent": {"turnComplete": True}, "usageMetadata": self.usage(turn)}
        )
        self.current_turn = None
        if config.record_audio_s is not None:
            turn.audio = bytearray()  # answered: bounded records keep no turn audio
        await self.send_handle()
