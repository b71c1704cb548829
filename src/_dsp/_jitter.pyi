"""Stubs for `_dsp._jitter`: the playout buffer for bursty reply audio."""

from typing import Self

import numpy as np
import numpy.typing as npt
from typing_extensions import disjoint_base

from ._typing import Int16Buffer

@disjoint_base
class JitterBuffer:
    """Turns bursty int16 audio into a steady stream of `frame_ms` frames.

    `push` accepts any amount; `pop` returns exactly one frame per call (silence when
    idle). A talkspurt starts once depth reaches `target_ms` (or at once after
    `mark_end`, which covers only the audio pushed before it); an underrun fades out
    over `fade_ms` and raises the target (bounded); steady playout lets it decay back.
    `clear()` fades the next frame to silence and discards the rest. Sample counts are
    per channel. push and pop hold the GIL (each copies about one frame).
    """

    def __new__(
        cls,
        sample_rate_hz: int = 48000,
        channels: int = 1,
        frame_ms: int = 10,
        *,
        target_ms: int = 60,
        max_ms: int = 60000,
        fade_ms: float = 5.0,
    ) -> Self: ...
    @property
    def sample_rate_hz(self) -> int: ...
    @property
    def channels(self) -> int: ...
    @property
    def frame_ms(self) -> int: ...
    @property
    def frame_samples(self) -> int:
        """Samples per channel in one popped frame."""
    @property
    def depth_ms(self) -> float:
        """Audio buffered and not yet played, in milliseconds."""
    @property
    def target_ms(self) -> float:
        """Current adaptive start depth in milliseconds."""
    @property
    def underruns(self) -> int:
        """Times a talkspurt ran dry before its end."""
    @property
    def dropped_samples(self) -> int:
        """Samples per channel refused because `max_ms` would have been exceeded."""
    @property
    def played_samples(self) -> int:
        """Samples per channel of pushed audio that have been popped (the position)."""
    @property
    def is_playing(self) -> bool:
        """True while a talkspurt, or its fade-out, is being played; False when idle."""
    def push(self, data: Int16Buffer) -> int:
        """Queue interleaved int16 audio; return samples per channel accepted."""
    def pop(self) -> npt.NDArray[np.int16]:
        """Return exactly one frame (`frame_samples * channels` int16 values)."""
    def pop_into(self, out: Int16Buffer) -> int:
        """Write exactly one frame into writable int16 `out`; return samples per channel
        of pushed audio in it (0 for pure silence)."""
    def clear(self) -> None:
        """Barge-in: the next frame fades to silence within `fade_ms`; the rest is
        discarded."""
    def mark_end(self) -> None:
        """End of a reply: play out what is buffered now without waiting for the target;
        audio pushed afterwards belongs to the next reply."""
