# cython: language_level=3
"""Playout buffer: turns bursty reply audio into a steady stream of fixed frames."""

from cpython.buffer cimport PyBuffer_Release
from cpython.pyport cimport PY_SSIZE_T_MAX
from libc.math cimport isfinite
from libc.stdint cimport int16_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

cimport numpy as cnp

from ._buffers cimport KIND_INT16, get_audio_buffer

cnp.import_array()

cdef enum:
    IDLE = 0       # nothing playing; silence until a talkspurt reaches the target
    PLAYING = 1    # frames come from the buffer
    WAITING = 2    # a talkspurt ran dry; silence until it refills to the (raised) target
    DECAY_FRAMES = 100  # underrun-free frames between two steps of target decay


cdef inline bint _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


cdef class JitterBuffer:
    """JitterBuffer(sample_rate_hz=48000, channels=1, frame_ms=10, *, target_ms=60, \
max_ms=60000, fade_ms=5.0)

    Turns bursty int16 audio into a steady stream of `frame_ms` frames.

    `push(data)` accepts any amount; audio is only refused (and counted in
    `dropped_samples`) when the buffer would exceed `max_ms`. `pop()` returns exactly one
    frame per call, silence when there is nothing to play.

    A talkspurt starts once depth reaches `target_ms` (and at least one frame plus
    `fade_ms`), or at once after `mark_end()`. While playing, `fade_ms` of audio is held
    back so that an underrun can fade out over real samples instead of clicking; when the
    talkspurt ran dry the target rises by one frame (up to 4x its initial value, at most
    200 ms more), and every second of underrun-free playout lowers it by half a frame
    back towards the initial value. Audio resuming after an underrun fades in over
    `fade_ms`. `mark_end()` covers only the audio pushed before it: audio pushed later is
    a new reply, and that running dry is an underrun like any other. `clear()` (barge-in)
    makes the next frame fade to silence within `fade_ms` and discards the rest. Apart
    from those fades every pushed sample comes out unchanged and in order. Sample counts
    are per channel; channels are interleaved.

    push and pop hold the GIL: each copies about one frame, less work than handing the
    GIL to another thread and back.
    """

    def __cinit__(self, sample_rate_hz=48000, channels=1, frame_ms=10, *, target_ms=60,
                  max_ms=60000, fade_ms=5.0):
        self._data = NULL
        if not _is_int(sample_rate_hz) or sample_rate_hz <= 0:
            raise ValueError(f"sample_rate_hz must be a positive int, got {sample_rate_hz!r}")
        if channels not in (1, 2) or isinstance(channels, bool):
            raise ValueError(f"channels must be 1 or 2, got {channels!r}")
        for name, value in (("target_ms", target_ms), ("max_ms", max_ms), ("fade_ms", fade_ms)):
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise TypeError(f"{name} must be a number, got {value!r}")
            if not isfinite(value):
                raise ValueError(f"{name} must be finite, got {value!r}")
        if not _is_int(frame_ms) or frame_ms <= 0 or sample_rate_hz * frame_ms % 1000:
            raise ValueError(
                f"frame_ms must be a positive int giving whole samples at {sample_rate_hz} Hz, "
                f"got {frame_ms!r}"
            )
        if not 0 < fade_ms <= 5:
            raise ValueError(f"fade_ms must be in (0, 5], got {fade_ms!r}")
        if not frame_ms <= target_ms:
            raise ValueError(f"target_ms must be at least frame_ms={frame_ms}, got {target_ms!r}")
        if not target_ms + frame_ms <= max_ms:
            raise ValueError(
                f"max_ms must be at least target_ms + frame_ms = {target_ms + frame_ms}, "
                f"got {max_ms!r}"
            )
        self._rate = sample_rate_hz
        self._ch = channels
        self._frame_ms = frame_ms
        self._frame = sample_rate_hz * frame_ms // 1000
        self._fade_ms = fade_ms
        self._fade = max(1, round(fade_ms * sample_rate_hz / 1000))
        cap = int(max_ms * sample_rate_hz // 1000)
        # The byte count is computed in size_t below; refuse sizes where it would wrap
        # to a small allocation that later pushes run past.
        if cap > PY_SSIZE_T_MAX // (channels * sizeof(int16_t)):
            raise ValueError(
                f"max_ms={max_ms} gives a capacity of {cap} samples per channel, above "
                f"the limit of {PY_SSIZE_T_MAX // (channels * sizeof(int16_t))} "
                f"(PY_SSIZE_T_MAX bytes)"
            )
        self._cap = cap
        self._base_target = self._target = target_ms * sample_rate_hz / 1000.0
        self._max_target = min(
            self._cap - self._frame - self._fade,
            max(4 * self._base_target, self._base_target + 0.2 * sample_rate_hz),
        )
        self._data = <int16_t*>malloc(<size_t>self._cap * channels * sizeof(int16_t))
        if self._data == NULL:
            raise MemoryError(f"cannot allocate {max_ms} ms of audio")

    def __dealloc__(self):
        free(self._data)

    @property
    def sample_rate_hz(self):
        """Sample rate in Hz."""
        return self._rate

    @property
    def channels(self):
        """Interleaved channels (1 or 2)."""
        return self._ch

    @property
    def frame_ms(self):
        """Duration of one popped frame in milliseconds."""
        return self._frame_ms

    @property
    def frame_samples(self):
        """Samples per channel in one popped frame."""
        return self._frame

    @property
    def depth_ms(self):
        """Audio buffered and not yet played, in milliseconds."""
        return self._count * 1000.0 / self._rate

    @property
    def target_ms(self):
        """Current adaptive start depth in milliseconds."""
        return self._target * 1000.0 / self._rate

    @property
    def underruns(self):
        """Times a talkspurt ran dry before its end."""
        return self._underruns

    @property
    def dropped_samples(self):
        """Samples per channel refused because `max_ms` would have been exceeded."""
        return self._dropped

    @property
    def played_samples(self):
        """Samples per channel of pushed audio that have been popped (the position)."""
        return self._played

    @property
    def is_playing(self):
        """True while a talkspurt, or its fade-out, is being played.

        False when only silence is coming out: idle, or waiting for a talkspurt that ran
        dry to refill.
        """
        return self._state == PLAYING or self._clear_pending

    def __repr__(self):
        return (
            f"JitterBuffer({self._rate}, {self._ch}, {self._frame_ms}, "
            f"depth_ms={self.depth_ms:.1f}, target_ms={self.target_ms:.1f})"
        )

    def push(self, data):
        """Queue interleaved int16 audio; return samples per channel accepted."""
        cdef Py_buffer view
        if get_audio_buffer(data, &view, False, "data") != KIND_INT16:
            PyBuffer_Release(&view)
            raise TypeError("JitterBuffer plays int16 audio; data must be an int16 buffer")
        cdef Py_ssize_t n_samples = view.len // 2
        cdef Py_ssize_t n, accepted, tail, first
        cdef const int16_t* src = <const int16_t*>view.buf
        try:
            if n_samples % self._ch:
                raise ValueError(
                    f"data holds {n_samples} samples, not a whole number of "
                    f"{self._ch}-channel frames"
                )
            n = n_samples // self._ch
            accepted = min(n, self._cap - self._count)
            self._dropped += n - accepted
            tail = (self._head + self._count) % self._cap
            first = min(accepted, self._cap - tail)
            memcpy(self._data + tail * self._ch, src, first * self._ch * sizeof(int16_t))
            memcpy(self._data, src + first * self._ch,
                   (accepted - first) * self._ch * sizeof(int16_t))
            self._count += accepted
            return accepted
        finally:
            PyBuffer_Release(&view)

    def pop(self):
        """Return exactly one frame (`frame_samples * channels` int16 values)."""
        cdef cnp.npy_intp dims = self._frame * self._ch
        cdef cnp.ndarray out = cnp.PyArray_EMPTY(1, &dims, cnp.NPY_INT16, 0)
        self._pop(<int16_t*>cnp.PyArray_DATA(out))
        return out

    def pop_into(self, out):
        """Write exactly one frame into writable int16 `out`.

        Returns samples per channel of pushed audio in it (0 for pure silence).
        """
        cdef Py_buffer view
        if get_audio_buffer(out, &view, True, "out") != KIND_INT16:
            PyBuffer_Release(&view)
            raise TypeError("out must be a writable int16 buffer")
        try:
            if view.len // 2 != self._frame * self._ch:
                raise ValueError(
                    f"out holds {view.len // 2} samples but one frame is "
                    f"{self._frame * self._ch}"
                )
            return self._pop(<int16_t*>view.buf)
        finally:
            PyBuffer_Release(&view)

    def clear(self):
        """Barge-in: the next frame fades to silence within `fade_ms`; the rest is discarded."""
        if self._clear_pending:
            # A fade-out is still to be played: keep it, or the next frame would jump
            # from full level to silence.
            pass
        elif self._state == PLAYING and self._count > 0:
            self._clear_keep = min(self._count, self._fade)
            self._clear_pending = True
        else:
            self._clear_keep = 0
        self._count = self._clear_keep
        self._state = IDLE
        self._end_left = 0
        self._fade_in = False

    def mark_end(self):
        """End of a reply: play out what is buffered now without waiting for the target.

        Audio pushed afterwards belongs to the next reply and follows the usual rules.
        """
        self._end_left = self._count

    cdef Py_ssize_t _take(self, int16_t* dst, Py_ssize_t n) noexcept:
        """Move n frames from the buffer to dst."""
        cdef Py_ssize_t first = min(n, self._cap - self._head)
        memcpy(dst, self._data + self._head * self._ch, first * self._ch * sizeof(int16_t))
        memcpy(dst + first * self._ch, self._data, (n - first) * self._ch * sizeof(int16_t))
        self._head = (self._head + n) % self._cap
        self._count -= n
        self._played += n
        self._end_left -= min(n, self._end_left)
        return n

    cdef void _ramp(self, int16_t* dst, Py_ssize_t start, Py_ssize_t n,
                    bint rising) noexcept:
        """Scale frames start..start+n: rising over `_fade` steps, falling to 0 over n."""
        cdef Py_ssize_t i, c
        cdef float g
        for i in range(n):
            g = (i + 1) / <float>self._fade if rising else (n - 1 - i) / <float>n
            for c in range(self._ch):
                dst[(start + i) * self._ch + c] = <int16_t>(
                    dst[(start + i) * self._ch + c] * g
                )

    cdef Py_ssize_t _pop(self, int16_t* dst) noexcept:
        cdef Py_ssize_t n = 0, f = self._frame, r = self._fade
        cdef double start_at = max(self._target, <double>(f + r))
        cdef bint marked
        if self._clear_pending:
            n = self._take(dst, self._clear_keep)
            self._ramp(dst, 0, n, False)
            self._clear_pending = False
            self._clear_keep = 0
        elif self._state == PLAYING or (
            self._count > 0 and (self._count >= start_at or self._end_left > 0)
        ):
            if self._state == WAITING:
                self._fade_in = True
            self._state = PLAYING
            marked = self._end_left > 0
            if self._count >= f + r or (marked and self._end_left == self._count):
                # Enough to keep the fade reserve, or all that is left ends at the mark.
                n = self._take(dst, min(f, self._count))
                if self._fade_in:
                    self._ramp(dst, 0, min(n, r), True)
                    self._fade_in = False
                if self._count == 0:
                    self._state = IDLE
                elif not marked:
                    self._stable += 1
                    if self._stable >= DECAY_FRAMES:
                        self._stable = 0
                        self._target = max(self._base_target, self._target - f / 2.0)
            elif marked:
                # Too little after the mark to carry on: play up to the planned end; what
                # follows is a new talkspurt that waits for the target.
                n = self._take(dst, min(f, self._end_left))
                if self._fade_in:
                    self._ramp(dst, 0, min(n, r), True)
                    self._fade_in = False
                if self._end_left == 0:
                    self._state = IDLE
            else:
                n = self._take(dst, min(f, self._count))
                if self._fade_in:
                    self._ramp(dst, 0, min(n, r), True)
                    self._fade_in = False
                self._ramp(dst, n - min(n, r), min(n, r), False)
                self._underruns += 1
                self._stable = 0
                self._target = min(self._max_target, self._target + f)
                self._state = WAITING
        memset(dst + n * self._ch, 0, (f - n) * self._ch * sizeof(int16_t))
        return n
