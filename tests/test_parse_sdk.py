"""Our parser against google-genai's own `LiveServerMessage` types.

Each message, hand-built for one field or randomly generated (fixed seeds), goes through
the SDK's receive path (`_LiveServerMessage_from_mldev` then `LiveServerMessage._from_response`,
as `AsyncSession._receive` does) and through `parse_server_message`. Ours may raise only
`ProtocolError`; whenever both accept a message, every value the bridge uses is equal.
Well-typed messages (no noise) must be accepted by both.
"""

from __future__ import annotations

import base64
import json
import math
import random
import warnings
from typing import Any

import pytest

from bridge.protocol import (
    GenerationComplete,
    GoAway,
    GroundingMetadata,
    InputTranscription,
    InterimInputTranscription,
    Interrupted,
    ModelAudio,
    ModelMedia,
    ModelText,
    OutputTranscription,
    ProtocolError,
    SessionResumptionUpdate,
    SetupComplete,
    ToolCall,
    ToolCallCancellation,
    TurnComplete,
    TurnCompleteReason,
    UsageMetadata,
    VoiceActivity,
    WaitingForInput,
    parse_server_message,
)

genai_types = pytest.importorskip("google.genai.types")
converters = pytest.importorskip("google.genai._live_converters")


def sdk_parse(raw: bytes) -> Any:
    """What google-genai's `AsyncSession.receive()` makes of one frame."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unknown enum values warn
        response = converters._LiveServerMessage_from_mldev(json.loads(raw))
        return genai_types.LiveServerMessage._from_response(
            response=response, kwargs=genai_types.LiveServerMessage().model_dump()
        )


def _enum(value: Any) -> str | None:
    return None if value is None else getattr(value, "value", value)


def _transcription(t: Any) -> tuple[str, bool, str | None, str | None]:
    return (t.text or "", bool(t.finished), t.language_code, t.speaker_label)


def _duration_s(text: str | None) -> float:
    """The reference reading of `goAway.timeLeft`: unusable means imminent."""
    if text is None or not text.endswith("s"):
        return 0.0
    try:
        seconds = float(text[:-1])
    except ValueError:
        return 0.0
    return seconds if 0 <= seconds < math.inf else 0.0


def sdk_view(m: Any) -> dict[str, Any]:
    """The values the bridge uses, read from the SDK's object."""
    view: dict[str, Any] = {}
    if m.setup_complete is not None:
        view["setup"] = m.setup_complete.session_id
    sc = m.server_content
    if sc is not None:
        audio, media, text = [], [], []
        for p in (sc.model_turn.parts or []) if sc.model_turn else []:
            if p.inline_data is not None:
                mime, data = p.inline_data.mime_type, p.inline_data.data or b""
                if mime is None or mime.lower().startswith("audio/pcm"):
                    if data:
                        audio.append(data)
                else:
                    media.append((mime, data))
            elif p.text is not None:
                text.append((p.text, bool(p.thought)))
        view |= {"audio": audio, "media": media, "text": text}
        for key in ("input_transcription", "output_transcription", "interim_input_transcription"):
            value = getattr(sc, key)
            view[key] = None if value is None else _transcription(value)
        view["interrupted"] = bool(sc.interrupted)
        view["generation_complete"] = bool(sc.generation_complete)
        view["turn_complete"] = bool(sc.turn_complete)
        view["reason"] = _enum(sc.turn_complete_reason)
        view["waiting"] = bool(sc.waiting_for_input)
        view["grounding"] = sc.grounding_metadata is not None
    if m.tool_call is not None:
        view["calls"] = [
            (
                c.id or "",
                c.name or "",
                c.args or {},
                bool(c.will_continue),
                [
                    (
                        a.json_path,
                        next(
                            (
                                v
                                for v in (a.string_value, a.number_value, a.bool_value)
                                if v is not None
                            ),
                            None,
                        ),
                        bool(a.will_continue),
                    )
                    for a in c.partial_args or []
                ],
            )
            for c in m.tool_call.function_calls or []
        ]
    if m.tool_call_cancellation is not None:
        view["cancelled"] = list(m.tool_call_cancellation.ids or [])
    if m.go_away is not None:
        view["go_away_s"] = _duration_s(m.go_away.time_left)
    if m.session_resumption_update is not None:
        u = m.session_resumption_update
        view["resumption"] = (u.new_handle or None, bool(u.resumable))
    if m.usage_metadata is not None:
        u = m.usage_metadata
        view["usage"] = (
            u.prompt_token_count or 0,
            u.response_token_count or 0,
            u.total_token_count or 0,
        )
    vad = []
    if m.voice_activity_detection_signal is not None:
        vad.append(
            _enum(m.voice_activity_detection_signal.vad_signal_type)
            or "VAD_SIGNAL_TYPE_UNSPECIFIED"
        )
    if m.voice_activity is not None:
        vad.append(_enum(m.voice_activity.voice_activity_type) or "TYPE_UNSPECIFIED")
    if vad:
        view["vad"] = sorted(vad)
    return view


def our_view(events: list[Any], raw: dict[str, Any]) -> dict[str, Any]:
    """The same values, read from our events."""
    view: dict[str, Any] = {}
    has_content = raw.get("serverContent") is not None
    if has_content:
        view |= {"audio": [], "media": [], "text": [], "input_transcription": None}
        view |= {"output_transcription": None, "interim_input_transcription": None}
        view |= {"interrupted": False, "generation_complete": False, "turn_complete": False}
        view |= {"reason": None, "waiting": False, "grounding": False}
    vad = []
    for e in events:
        kind = type(e)
        if kind is SetupComplete:
            view["setup"] = e.session_id
        elif kind is ModelAudio:
            view["audio"].append(e.pcm)
        elif kind is ModelMedia:
            view["media"].append((e.mime_type, e.data))
        elif kind is ModelText:
            view["text"].append((e.text, e.thought))
        elif kind in (InputTranscription, OutputTranscription, InterimInputTranscription):
            key = {
                InputTranscription: "input_transcription",
                OutputTranscription: "output_transcription",
                InterimInputTranscription: "interim_input_transcription",
            }[kind]
            view[key] = (e.text, e.finished, e.language_code, e.speaker_label)
        elif kind is Interrupted:
            view["interrupted"] = True
        elif kind is GenerationComplete:
            view["generation_complete"] = True
        elif kind is TurnComplete:
            view["turn_complete"], view["reason"] = True, e.reason
        elif kind is TurnCompleteReason:
            view["reason"] = e.reason
        elif kind is WaitingForInput:
            view["waiting"] = True
        elif kind is GroundingMetadata:
            view["grounding"] = True
        elif kind is ToolCall:
            view["calls"] = [
                (
                    c.id,
                    c.name,
                    dict(c.args),
                    c.will_continue,
                    [(a.json_path, a.value, a.will_continue) for a in c.partial_args],
                )
                for c in e.calls
            ]
        elif kind is ToolCallCancellation:
            view["cancelled"] = list(e.ids)
        elif kind is GoAway:
            view["go_away_s"] = e.time_left_s
        elif kind is SessionResumptionUpdate:
            view["resumption"] = (e.handle, e.resumable)
        elif kind is UsageMetadata:
            view["usage"] = (e.prompt_token_count, e.response_token_count, e.total_token_count)
        elif kind is VoiceActivity:
            vad.append(e.kind)
    if vad:
        view["vad"] = sorted(vad)
    return view


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


PCM = b"\x01\x00\xff\x7f\x00\x80"
TR = {"text": "hallo", "finished": True, "languageCode": "de-DE", "speakerLabel": "spk-2"}
HAND_BUILT: list[dict[str, Any]] = [
    {"setupComplete": {}},
    {"setupComplete": {"sessionId": "s-1"}},
    {
        "serverContent": {
            "modelTurn": {
                "parts": [{"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": b64(PCM)}}]
            }
        }
    },
    {
        "serverContent": {
            "modelTurn": {"parts": [{"inlineData": {"mimeType": "audio/pcm;rate=24000"}}]},
            "turnComplete": True,
        }
    },
    {
        "serverContent": {
            "modelTurn": {"parts": [{"inlineData": {"mimeType": "audio/pcm", "data": ""}}]}
        }
    },
    {"serverContent": {"modelTurn": {"parts": [{"inlineData": {"data": b64(PCM)}}]}}},
    {
        "serverContent": {
            "modelTurn": {
                "parts": [{"inlineData": {"mimeType": "image/jpeg", "data": b64(b"\xff\xd8")}}]
            }
        }
    },
    {"serverContent": {"modelTurn": {"parts": [{"inlineData": {"mimeType": "video/mp4"}}]}}},
    {
        "serverContent": {
            "modelTurn": {
                "parts": [
                    {"inlineData": {"mimeType": "application/pdf", "data": b64(b"%PDF")}},
                    {"text": "see"},
                ]
            }
        }
    },
    {
        "serverContent": {
            "modelTurn": {"parts": [{"text": "thinking", "thought": True}, {"text": "answer"}]}
        }
    },
    {"serverContent": {"inputTranscription": TR}},
    {"serverContent": {"outputTranscription": {"text": "hi"}}},
    {"serverContent": {"interimInputTranscription": {"text": "hal"}}},
    {"serverContent": {"interrupted": True}},
    {"serverContent": {"generationComplete": True}},
    {"serverContent": {"turnComplete": True, "turnCompleteReason": "NEED_MORE_INPUT"}},
    {"serverContent": {"turnCompleteReason": "MALFORMED_FUNCTION_CALL"}},
    {"serverContent": {"waitingForInput": True}},
    {"serverContent": {"groundingMetadata": {"webSearchQueries": ["weather berlin"]}}},
    {"serverContent": {"turnComplete": None, "interrupted": None, "modelTurn": None}},
    {
        "toolCall": {
            "functionCalls": [{"id": "c1", "name": "calculate", "args": {"expression": "1+1"}}]
        }
    },
    {
        "toolCall": {
            "functionCalls": [
                {
                    "id": "c2",
                    "name": "f",
                    "willContinue": True,
                    "partialArgs": [{"jsonPath": "$.a", "stringValue": "x", "willContinue": True}],
                },
                {"id": "c3", "name": "g"},
            ]
        }
    },
    {
        "toolCall": {
            "functionCalls": [
                {
                    "id": "c2",
                    "partialArgs": [
                        {"jsonPath": "$.n", "numberValue": 2.5},
                        {"jsonPath": "$.b", "boolValue": False},
                        {"jsonPath": "$.z", "nullValue": "NULL_VALUE"},
                    ],
                }
            ]
        }
    },
    {"toolCallCancellation": {"ids": ["c1", "c2"]}},
    {"goAway": {"timeLeft": "50s"}},
    {"goAway": {"timeLeft": "9.5s"}},
    {"goAway": {"timeLeft": "soon"}},
    {"goAway": {}},
    {"sessionResumptionUpdate": {"newHandle": "h-1", "resumable": True}},
    {"sessionResumptionUpdate": {"resumable": False}},
    {
        "usageMetadata": {
            "promptTokenCount": 10,
            "responseTokenCount": 20,
            "totalTokenCount": 30,
            "responseTokensDetails": [{"modality": "AUDIO", "tokenCount": 20}],
        }
    },
    {"serverContent": {"turnComplete": True}, "usageMetadata": {"totalTokenCount": 7}},
    {"voiceActivityDetectionSignal": {"vadSignalType": "VAD_SIGNAL_TYPE_EOS"}},
    {"voiceActivity": {"type": "ACTIVITY_START"}},
]


def check(message: dict[str, Any], *, must_accept: bool) -> str:
    """Run one message through both; returns which accepted it (for the tally)."""
    raw = json.dumps(message).encode()
    try:
        sdk = sdk_parse(raw)
    except Exception:  # pydantic's ValidationError and friends: the SDK refuses it
        sdk = None
    try:
        events = parse_server_message(raw)
    except ProtocolError:
        assert not (must_accept and sdk is not None), f"we refused what the SDK took: {raw!r:.300}"
        return "ours refused"
    if sdk is None:
        return "sdk refused"
    assert our_view(events, message) == sdk_view(sdk), raw[:300]
    return "both"


@pytest.mark.parametrize("message", HAND_BUILT, ids=lambda m: "+".join(m)[:40])
def test_hand_built_messages_read_as_the_sdk_reads_them(message: dict[str, Any]) -> None:
    assert check(message, must_accept=True) == "both"


# -- random messages -------------------------------------------------------------------

MIMES = [
    "audio/pcm;rate=24000",
    "audio/pcm",
    "audio/pcm;rate=16000",
    "image/png",
    "video/webm",
    "text/plain",
    "application/json",
    None,
]
REASONS = ["NEED_MORE_INPUT", "MALFORMED_FUNCTION_CALL", "RESPONSE_REJECTED", "GENERATED_OTHER"]
WRONG = [7, -1, 2.5, True, "x", "", [], {}, [1, "a"], {"a": None}, None]


class Gen:
    """Random wire messages; with `noise`, any value may be swapped for a wrong type."""

    def __init__(self, seed: int, noise: float) -> None:
        self.r = random.Random(seed)
        self.noise = noise

    def v(self, value: Any) -> Any:
        return self.r.choice(WRONG) if self.r.random() < self.noise else value

    def maybe(self, p: float = 0.5) -> bool:
        return self.r.random() < p

    def text(self) -> str:
        return "".join(self.r.choice('ab cß€😀"\\\n') for _ in range(self.r.randrange(0, 12)))

    def obj(self, fields: dict[str, Any], p: float = 0.6) -> dict[str, Any]:
        return {k: self.v(f()) for k, f in fields.items() if self.maybe(p)}

    def blob(self) -> dict[str, Any]:
        data = self.r.randbytes(self.r.randrange(0, 9) * 2)
        return self.obj({"mimeType": lambda: self.r.choice(MIMES), "data": lambda: b64(data)}, 0.8)

    def part(self) -> dict[str, Any]:
        if self.maybe():
            return {"inlineData": self.v(self.blob())}
        return self.obj({"text": self.text, "thought": lambda: self.maybe()}, 0.7)

    def transcription(self) -> dict[str, Any]:
        return self.obj(
            {
                "text": self.text,
                "finished": lambda: self.maybe(),
                "languageCode": lambda: self.r.choice(["en-US", "de-DE"]),
                "speakerLabel": lambda: f"spk{self.r.randrange(3)}",
            }
        )

    def content(self) -> dict[str, Any]:
        return self.obj(
            {
                "modelTurn": lambda: {
                    "parts": [self.v(self.part()) for _ in range(self.r.randrange(4))]
                },
                "inputTranscription": self.transcription,
                "outputTranscription": self.transcription,
                "interimInputTranscription": self.transcription,
                "interrupted": lambda: self.maybe(),
                "generationComplete": lambda: self.maybe(),
                "turnComplete": lambda: self.maybe(),
                "turnCompleteReason": lambda: self.r.choice(REASONS),
                "waitingForInput": lambda: self.maybe(),
                "groundingMetadata": lambda: {"webSearchQueries": [self.text()]},
            },
            0.3,
        )

    def partial(self) -> dict[str, Any]:
        key, value = self.r.choice(
            [
                ("stringValue", self.text()),
                ("numberValue", self.r.uniform(-9, 9)),
                ("boolValue", self.maybe()),
                ("nullValue", "NULL_VALUE"),
            ]
        )
        return {
            "jsonPath": self.v(f"$.{self.r.choice('abc')}"),
            key: self.v(value),
            **self.obj({"willContinue": lambda: self.maybe()}, 0.3),
        }

    def call(self) -> dict[str, Any]:
        return self.obj(
            {
                "id": lambda: f"c{self.r.randrange(5)}",
                "name": lambda: self.r.choice(["calculate", "current_time"]),
                "args": lambda: {"expression": self.text()},
                "willContinue": lambda: self.maybe(),
                "partialArgs": lambda: [self.v(self.partial()) for _ in range(self.r.randrange(3))],
            },
            0.7,
        )

    def message(self) -> dict[str, Any]:
        makers = {
            "setupComplete": lambda: self.obj({"sessionId": lambda: f"s{self.r.randrange(9)}"}),
            "serverContent": self.content,
            "toolCall": lambda: {
                "functionCalls": [self.v(self.call()) for _ in range(self.r.randrange(4))]
            },
            "toolCallCancellation": lambda: {
                "ids": [self.v(f"c{i}") for i in range(self.r.randrange(3))]
            },
            "goAway": lambda: self.obj(
                {"timeLeft": lambda: self.r.choice(["50s", "0.5s", "1.25s", "later"])}
            ),
            "sessionResumptionUpdate": lambda: self.obj(
                {"newHandle": lambda: f"h{self.r.randrange(9)}", "resumable": lambda: self.maybe()}
            ),
            "usageMetadata": lambda: self.obj(
                {
                    "promptTokenCount": lambda: self.r.randrange(99),
                    "responseTokenCount": lambda: self.r.randrange(99),
                    "totalTokenCount": lambda: self.r.randrange(199),
                }
            ),
            "voiceActivityDetectionSignal": lambda: {
                "vadSignalType": self.r.choice(["VAD_SIGNAL_TYPE_SOS", "VAD_SIGNAL_TYPE_EOS"])
            },
        }
        keys = self.r.sample(sorted(makers), self.r.choice([1, 1, 1, 2]))
        return {k: self.v(makers[k]()) for k in keys}


def well_typed_is_acceptable(message: dict[str, Any]) -> bool:
    """Messages a well-behaved server could send: every call has an id or a name."""
    calls = (message.get("toolCall") or {}).get("functionCalls") or []
    return all(c.get("id") or c.get("name") for c in calls)


@pytest.mark.parametrize("seed", range(4))
def test_random_well_typed_messages_read_as_the_sdk_reads_them(seed: int) -> None:
    gen = Gen(seed, noise=0.0)
    tally: dict[str, int] = {}
    for _ in range(500):
        message = gen.message()
        outcome = check(message, must_accept=well_typed_is_acceptable(message))
        tally[outcome] = tally.get(outcome, 0) + 1
    assert tally.get("both", 0) > 400, tally


@pytest.mark.parametrize("seed", range(4))
def test_random_type_confused_messages_raise_only_protocol_error(seed: int) -> None:
    gen = Gen(1000 + seed, noise=0.15)
    tally: dict[str, int] = {}
    for _ in range(500):
        outcome = check(gen.message(), must_accept=False)
        tally[outcome] = tally.get(outcome, 0) + 1
    assert tally.get("both", 0) > 50 and tally.get("ours refused", 0) > 50, tally
