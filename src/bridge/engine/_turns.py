"""Turn bookkeeping: which reply is playing, how much of it was heard, its transcripts.

A turn is one exchange: what the user said and the model's reply, numbered from 0. The
server's `turnComplete` (or the end of a connection) closes the current turn, but its
audio may still be playing: such turns wait in `playing` until the downlink has
played all of their audio, and only then publish `TurnEnded`. `interrupted` ends every
turn at once with the part that was heard. Turns only read the downlink's play position
(`played_samples`, `is_idle`) and mark the end of a reply (`mark_end`). The first frame
of each reply times it: `downlink_latency_us` (its audio in → played) and
`reply_latency_ms` (the user's last loud frame → played). A turn keeps at most
`MAX_TURN_TEXT_CHARS` of each transcript: a server that never ends a turn cannot make
each cumulative transcript cost more than the last.
"""

from __future__ import annotations

import logging
import math

from .._faults import FaultReporter
from .._pacing import Monotonic
from ._downlink import Downlink
from ._publish import Publisher
from ._stats import SessionStats
from ._vad import EnergyVad
from .events import Caption, Role, Spoken, Transcript, TurnEnded, TurnStarted

log = logging.getLogger(__name__)

MAX_TURN_TEXT_CHARS = 65_536
"""Transcript text kept per turn and role (a Telegram message holds 4096)."""


class Turn:
    """One exchange."""

    __slots__ = (
        "audio_in_s",
        "ended",
        "final_roles",
        "first_played_s",
        "generation_done",
        "id",
        "input_parts",
        "input_text",
        "output_text",
        "played_from",
        "pushed",
        "started",
    )

    def __init__(self, turn_id: int) -> None:
        self.id = turn_id
        self.input_text = ""
        self.input_parts: list[Spoken] = []
        self.output_text = ""
        self.started = False
        """The first reply audio arrived."""
        self.ended = False
        """`TurnEnded` was published."""
        self.final_roles: set[str] = set()
        self.generation_done = False
        self.audio_in_s = math.nan
        self.first_played_s = math.nan
        self.played_from = 0
        """Downlink play position at which this turn's audio starts."""
        self.pushed = 0
        """Samples per channel of this turn's audio queued for playout."""


class Turns:
    """The current turn and the completed ones still playing, for one session."""

    def __init__(
        self,
        downlink: Downlink,
        publisher: Publisher,
        stats: SessionStats,
        vad: EnergyVad,
        monotonic: Monotonic,
    ) -> None:
        self._downlink = downlink
        self._publisher = publisher
        self._counters = stats.counters
        self._h = stats.histograms
        self._vad = vad
        self._monotonic = monotonic
        self.current = Turn(0)
        self.playing: list[Turn] = []
        self._too_long = FaultReporter("transcript text beyond the turn's limit dropped", log)
        self.reply_started_s = math.inf
        """When the latest reply began to play (on `monotonic`)."""

    def audio(self, pcm: bytes, rate_hz: int) -> None:
        """Reply audio for the current turn."""
        turn = self.current
        if turn.ended:
            return  # the rest of an interrupted reply: never play it
        downlink = self._downlink
        if not turn.started:
            turn.started = True
            turn.audio_in_s = self._monotonic()
            turn.played_from = downlink.played_samples + downlink.queued_samples()
            self._publisher.publish(TurnStarted(turn.id))
        turn.pushed += downlink.push(pcm, rate_hz)

    def generation_complete(self) -> None:
        """The server sent the whole reply: play out what is left without waiting."""
        if not self.current.ended:
            self.current.generation_done = True
            self._downlink.mark_end()

    def transcript(
        self, role: Role, text: str, finished: bool, ssrcs: tuple[int, ...] = ()
    ) -> None:
        """Input or output transcription: published cumulative for the turn; a user piece
        said by `ssrcs` joins the last part if the same speakers said it."""
        turn = self.current
        kept = turn.input_text if role == "user" else turn.output_text
        if len(kept) + len(text) > MAX_TURN_TEXT_CHARS:
            self._too_long.report(f"{len(text)} characters of a {role} transcript")
            text = text[: max(0, MAX_TURN_TEXT_CHARS - len(kept))]
        if role == "user":
            turn.input_text += text
            cumulative = turn.input_text
            parts = turn.input_parts
            if parts and parts[-1].ssrcs == ssrcs:
                parts[-1] = Spoken(ssrcs, parts[-1].text + text)
            elif text.strip():
                parts.append(Spoken(ssrcs, text))
        else:
            turn.output_text += text
            cumulative = turn.output_text
        if finished:
            turn.final_roles.add(role)
        self._publish_transcript(role, turn, cumulative, finished)

    def caption(self, text: str, ssrcs: tuple[int, ...]) -> None:
        """An interim transcription of the speech in progress."""
        self._publisher.publish(Caption(self.current.id, text, ssrcs))

    def _publish_transcript(self, role: Role, turn: Turn, text: str, final: bool) -> None:
        parts = tuple(turn.input_parts) if role == "user" else ()
        self._publisher.publish(Transcript(role, turn.id, text, final, parts))

    def turn_complete(self) -> None:
        """The server closed the turn: final transcripts; its audio keeps playing."""
        turn = self.current
        user_text, model_text = turn.input_text, turn.output_text
        if user_text and "user" not in turn.final_roles:
            self._publish_transcript("user", turn, user_text, True)
        if model_text and "model" not in turn.final_roles:
            self._publish_transcript("model", turn, model_text, True)
        self._close_current()

    def connection_ended(self) -> None:
        """A reply cut off mid-generation by a lost connection plays out what arrived."""
        if self.current.started:
            self._close_current()

    def interrupt_all(self) -> None:
        """Barge-in: every started turn ends now, interrupted, with what was heard."""
        for turn in self.playing:
            self._end(turn, interrupted=True)
        self.playing.clear()
        if self.current.started and not self.current.ended:
            self._end(self.current, interrupted=True)

    def after_frame(self, n_reply_samples: int, now_s: float) -> None:
        """After each played frame: first-frame timing, and turns that finished playing."""
        if n_reply_samples:
            for turn in (*self.playing, self.current):
                if turn.started and math.isnan(turn.first_played_s):
                    turn.first_played_s = now_s
                    self.reply_started_s = now_s
                    self._first_played(turn.audio_in_s, now_s)
        if self.playing:
            played = self._downlink.played_samples
            idle = self._downlink.is_idle
            while self.playing and (
                idle or played >= self.playing[0].played_from + self.playing[0].pushed
            ):
                self._end(self.playing.pop(0), interrupted=False)

    def _first_played(self, audio_in_s: float, now_s: float) -> None:
        self._h.downlink_latency_us.record((now_s - audio_in_s) * 1e6)
        last_loud_s = self._vad.last_loud_s
        if not math.isnan(last_loud_s) and last_loud_s < audio_in_s:
            self._h.reply_latency_ms.record((now_s - last_loud_s) * 1e3)

    def _close_current(self) -> None:
        turn = self.current
        if turn.started and not turn.ended:
            turn.generation_done = True
            self._downlink.mark_end()
            self.playing.append(turn)
        self.current = Turn(turn.id + 1)

    def _end(self, turn: Turn, *, interrupted: bool) -> None:
        turn.ended = True
        self._counters.turns += 1
        played = self._downlink.played_samples - turn.played_from
        heard_s = max(0, min(played, turn.pushed)) / self._downlink.sample_rate_hz
        self._publisher.publish(TurnEnded(turn.id, interrupted, heard_s))
