"""Answer only when addressed: a reply is played only if the user's transcript names the bot.

`Addressee` matches the bot's name and aliases in a transcript (case- and
diacritic-insensitive, whole words). `AddressGate` sits between the server's events and
the turn bookkeeping (`respond = "when_addressed"`): it passes every event through except
a reply's own (`ModelAudio`, `OutputTranscription`, `GenerationComplete`), which it holds
until the turn's input transcription (or a live caption naming the bot) decides:

- the transcript so far names the bot → the held events are released in order, and the
  rest of the reply passes straight through;
- the transcript is finished (or the turn completes) without naming it → the reply is
  dropped: nothing of it ever reaches the downlink, so there is no half reply and no
  audio of it in the jitter buffer; `replies_not_addressed` counts it.

Holding is what this mode costs: reply audio that arrives before the transcript names the
bot waits for it (on the real service the input transcription often lags the first reply
audio). The counters `replies_held` and `reply_hold_ms` (their sum) give the mean delay
this added to the first reply audio of the replies that were played.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Sequence

from .._pacing import Monotonic
from ..config import BridgeConfig
from ..protocol import (
    GenerationComplete,
    InputTranscription,
    InterimInputTranscription,
    Interrupted,
    ModelAudio,
    OutputTranscription,
    ServerEvent,
    TurnComplete,
)
from ._modes import bot_names
from ._stats import SessionCounters

_REPLY = (ModelAudio, OutputTranscription, GenerationComplete)
_PASS: tuple[ServerEvent, ...] = ()


def fold(text: str) -> str:
    """`text` without case or diacritics ("GÉMINI" → "gemini"), for matching names."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


class Addressee:
    """The names the bot answers to, matched as whole words in any case or accent."""

    def __init__(self, names: Iterable[str]) -> None:
        words = {tuple(fold(name).split()) for name in names}
        words.discard(())
        if not words:
            raise ValueError("the bot needs at least one non-empty name to be addressed by")
        # Longest first, so "Gemini Live" wins over "Gemini"; words may be split by any space.
        alternatives = sorted((r"\s+".join(map(re.escape, w)) for w in words), key=len)
        self._pattern = re.compile(rf"(?<!\w)(?:{'|'.join(reversed(alternatives))})(?!\w)")

    def addressed_in(self, transcript: str) -> bool:
        """Whether `transcript` names the bot."""
        return self._pattern.search(fold(transcript)) is not None


class AddressGate:
    """Holds each reply until the user's transcript says whether the bot was addressed."""

    def __init__(
        self,
        addressee: Addressee,
        counters: SessionCounters,
        monotonic: Monotonic,
        *,
        max_held_ms: int = 120_000,
    ) -> None:
        self._addressee = addressee
        self._max_held_bytes = max_held_ms * 48  # 24 kHz int16 reply audio
        """Held longer than this and still undecided: dropped (a transcript that never
        comes must not hold a whole long reply in memory)."""
        self._counters = counters
        self._monotonic = monotonic
        self._heard = ""
        self._decided: bool | None = None
        """None until the transcript decides; then whether the bot was addressed."""
        self._held: list[ServerEvent] = []
        self._held_since_s = math.nan
        self._held_bytes = 0
        self._counted = False

    def admit(self, event: ServerEvent) -> Sequence[ServerEvent]:
        """The events to hand on now, in order, for one event from the server."""
        if isinstance(event, _REPLY):
            if self._decided is None:
                if type(event) is ModelAudio:
                    if math.isnan(self._held_since_s):
                        self._held_since_s = self._monotonic()
                    self._held_bytes += len(event.pcm)
                self._held.append(event)
                if self._held_bytes > self._max_held_bytes:
                    self._drop()
                return _PASS
            if self._decided:
                return (event,)
            if type(event) is not GenerationComplete:
                self._count_dropped()
            return _PASS
        if type(event) is InputTranscription:
            return (event, *self._heard_more(event.text, event.finished))
        if type(event) is InterimInputTranscription:
            # A live caption naming the bot decides at once; one without the name decides
            # nothing (captions are provisional, each one replacing the last).
            if self._decided is None and self._addressee.addressed_in(event.text):
                return (event, *self._release())
            return (event,)
        if type(event) is TurnComplete:
            if self._decided is None and self._held:
                self._drop()
            self.reset()
        elif type(event) is Interrupted:
            self._held.clear()  # a barged-in reply is never played, addressed or not
        return (event,)

    def answer_next(self) -> None:
        """The coming reply answers a question asked again after a dropped connection
        (a text turn, with no transcript to decide by): play it."""
        self.reset()
        self._decided = True

    def reset(self) -> None:
        """A new turn (or a new connection): undecided, nothing heard or held."""
        self._heard = ""
        self._decided = None
        self._held.clear()
        self._held_since_s = math.nan
        self._held_bytes = 0
        self._counted = False

    def _heard_more(self, text: str, finished: bool) -> Sequence[ServerEvent]:
        if self._decided is not None:
            return _PASS
        self._heard += text
        if self._addressee.addressed_in(self._heard):
            return self._release()
        if finished:
            self._drop()
        return _PASS

    def _release(self) -> Sequence[ServerEvent]:
        """Addressed: what is held goes on, in order, and so will the rest of the reply."""
        self._decided = True
        if not math.isnan(self._held_since_s):
            self._counters.replies_held += 1
            held_s = self._monotonic() - self._held_since_s
            self._counters.reply_hold_ms += round(held_s * 1e3)
        released, self._held = self._held, []
        self._held_bytes = 0
        return released

    def _drop(self) -> None:
        """Not addressed: this turn's reply (held now or still to come) is never played."""
        self._decided = False
        if any(type(event) is not GenerationComplete for event in self._held):
            self._count_dropped()
        self._held.clear()
        self._held_bytes = 0

    def _count_dropped(self) -> None:
        if not self._counted:  # once per reply, however many pieces of it are dropped
            self._counted = True
            self._counters.replies_not_addressed += 1


def address_gate(
    config: BridgeConfig, counters: SessionCounters, monotonic: Monotonic
) -> AddressGate | None:
    """The gate `config` asks for: with `respond = "when_addressed"`, not interpreting."""
    if config.gemini.respond != "when_addressed" or config.translate.language:
        return None
    return AddressGate(
        Addressee(bot_names(config)),
        counters,
        monotonic,
        max_held_ms=config.engine.jitter_max_ms,
    )
