# cython: language_level=3
"""Fixed-capacity int16 or float32 ring buffer counted in frames (samples per channel)."""

from cpython.buffer cimport PyBuffer_Release
from cpython.pyport cimport PY_SSIZE_T_MAX
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

cimport numpy as cnp

from ._buffers cimport KIND_FLOAT32, KIND_INT16, get_audio_buffer

cnp.import_array()


cdef class RingBuffer:
    """RingBuffer(capacity, *, channels=1, overflow="error", dtype="int16")

    Fixed-capacity FIFO of int16 (or, with dtype="float32", float32) audio, interleaved
    when `channels` is 2.

    All counts (`capacity`, `available`, `free`, `dropped_samples`, `n`) are in samples
    per channel (frames: a stereo frame is one). Inputs accept any buffer of the ring's
    dtype (bytes, bytearray, memoryview, numpy; bytes count as int16); outputs are 1-D
    interleaved numpy arrays of `n * channels` samples. Data of the other dtype is refused
    with TypeError. Reads and writes hold the GIL (each is a memcpy).

    overflow="error": a write that does not fit raises `OverflowError` naming the sizes
    and changes nothing. overflow="drop_oldest": the oldest frames make room and are
    counted in `dropped_samples`.
    """

    def __cinit__(self, capacity, *, channels=1, overflow="error", dtype="int16"):
        self._data = NULL
        if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity <= 0:
            raise ValueError(f"capacity must be a positive int (frames), got {capacity!r}")
        if channels not in (1, 2) or isinstance(channels, bool):
            raise ValueError(f"channels must be 1 or 2, got {channels!r}")
        if overflow not in ("error", "drop_oldest"):
            raise ValueError(
                f'overflow must be "error" or "drop_oldest", got {overflow!r}'
            )
        if dtype not in ("int16", "float32"):
            raise ValueError(f'dtype must be "int16" or "float32", got {dtype!r}')
        frame_bytes = channels * (2 if dtype == "int16" else 4)
        # The byte count is computed in size_t below; refuse sizes where it would wrap
        # to a small allocation that later writes run past.
        if capacity > PY_SSIZE_T_MAX // frame_bytes:
            raise ValueError(
                f"capacity={capacity} frames of {frame_bytes} bytes exceeds the limit of "
                f"{PY_SSIZE_T_MAX // frame_bytes} frames (PY_SSIZE_T_MAX bytes)"
            )
        self._capacity = capacity
        self._channels = channels
        self._drop_oldest = overflow == "drop_oldest"
        self._kind = KIND_INT16 if dtype == "int16" else KIND_FLOAT32
        self._frame_bytes = frame_bytes
        self._data = <char*>malloc(<size_t>capacity * self._frame_bytes)
        if self._data == NULL:
            raise MemoryError(f"cannot allocate a ring of {capacity} frames")

    def __dealloc__(self):
        free(self._data)

    @property
    def capacity(self):
        """Samples per channel (frames) the buffer can hold."""
        return self._capacity

    @property
    def channels(self):
        """Interleaved channels per frame (1 or 2)."""
        return self._channels

    @property
    def dtype(self):
        """The sample type held: "int16" or "float32"."""
        return "int16" if self._kind == KIND_INT16 else "float32"

    @property
    def overflow(self):
        """The overflow policy chosen at construction."""
        return "drop_oldest" if self._drop_oldest else "error"

    @property
    def available(self):
        """Frames ready to read."""
        return self._count

    @property
    def free(self):
        """Frames that can be written without overflowing."""
        return self._capacity - self._count

    @property
    def dropped_samples(self):
        """Samples per channel discarded so far under overflow="drop_oldest"."""
        return self._dropped

    def __len__(self):
        return self._count

    def __repr__(self):
        return (
            f"RingBuffer(capacity={self._capacity}, channels={self._channels}, "
            f"overflow={self.overflow!r}, dtype={self.dtype!r}, available={self._count})"
        )

    cdef void _copy_out(self, char* dst, Py_ssize_t n) noexcept nogil:
        cdef Py_ssize_t fb = self._frame_bytes
        cdef Py_ssize_t first = self._capacity - self._head
        if first > n:
            first = n
        memcpy(dst, self._data + self._head * fb, first * fb)
        if n > first:
            memcpy(dst + first * fb, self._data, (n - first) * fb)

    cdef void _advance(self, Py_ssize_t n) noexcept nogil:
        self._head = (self._head + n) % self._capacity
        self._count -= n

    cdef void _copy_in(self, const char* src, Py_ssize_t n) noexcept nogil:
        cdef Py_ssize_t fb = self._frame_bytes
        cdef Py_ssize_t tail = (self._head + self._count) % self._capacity
        cdef Py_ssize_t first = self._capacity - tail
        if first > n:
            first = n
        memcpy(self._data + tail * fb, src, first * fb)
        if n > first:
            memcpy(self._data, src + first * fb, (n - first) * fb)
        self._count += n

    def write(self, data):
        """Append interleaved frames of the ring's dtype; return the frames of `data` stored.

        Under overflow="error" a write that does not fit raises OverflowError and changes
        nothing; under "drop_oldest" the oldest frames are discarded (in `dropped_samples`)
        and, if `data` alone exceeds the capacity, only its newest `capacity` frames are
        kept, so the return value is `capacity`, not the length of `data`.
        """
        cdef Py_buffer view
        if get_audio_buffer(data, &view, False, "data") != self._kind:
            PyBuffer_Release(&view)
            raise TypeError(f"this RingBuffer holds {self.dtype}; data is not {self.dtype}")
        cdef Py_ssize_t n_samples = view.len // (self._frame_bytes // self._channels)
        cdef Py_ssize_t n, excess
        cdef const char* src = <const char*>view.buf
        try:
            if n_samples % self._channels:
                raise ValueError(
                    f"data holds {n_samples} samples, not a whole number of "
                    f"{self._channels}-channel frames"
                )
            n = n_samples // self._channels
            if n > self._capacity - self._count:
                if not self._drop_oldest:
                    raise OverflowError(
                        f"write of {n} frames does not fit: {self._capacity - self._count} "
                        f"of {self._capacity} frames free"
                    )
                if n > self._capacity:
                    self._dropped += self._count + (n - self._capacity)
                    src += (n - self._capacity) * self._frame_bytes
                    n = self._capacity
                    self._head = 0
                    self._count = 0
                else:
                    excess = n - (self._capacity - self._count)
                    self._advance(excess)
                    self._dropped += excess
            self._copy_in(src, n)
            return n
        finally:
            PyBuffer_Release(&view)

    cdef Py_ssize_t _check_n(self, n) except -1:
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ValueError(f"n must be a non-negative int (frames), got {n!r}")
        if n > self._count:
            raise ValueError(f"n={n} frames requested but only {self._count} available")
        return n

    cdef cnp.ndarray _new_array(self, Py_ssize_t n):
        cdef cnp.npy_intp dims = n * self._channels
        return cnp.PyArray_EMPTY(
            1, &dims, cnp.NPY_INT16 if self._kind == KIND_INT16 else cnp.NPY_FLOAT32, 0
        )

    def read(self, n):
        """Remove and return the oldest `n` frames; ValueError if fewer are available."""
        cdef Py_ssize_t k = self._check_n(n)
        cdef cnp.ndarray out = self._new_array(k)
        self._copy_out(<char*>cnp.PyArray_DATA(out), k)
        self._advance(k)
        return out

    def peek(self, n):
        """Return the oldest `n` frames without removing them."""
        cdef Py_ssize_t k = self._check_n(n)
        cdef cnp.ndarray out = self._new_array(k)
        self._copy_out(<char*>cnp.PyArray_DATA(out), k)
        return out

    def skip(self, n):
        """Discard the oldest `n` frames; ValueError if fewer are available."""
        self._advance(self._check_n(n))

    def read_into(self, out):
        """Move min(available, len(out) // channels) frames into writable `out`.

        Returns the number of frames moved; `out` must hold whole frames.
        """
        cdef Py_buffer view
        if get_audio_buffer(out, &view, True, "out") != self._kind:
            PyBuffer_Release(&view)
            raise TypeError(f"out must be a writable {self.dtype} buffer")
        cdef Py_ssize_t n_samples = view.len // (self._frame_bytes // self._channels)
        cdef Py_ssize_t n
        try:
            if n_samples % self._channels:
                raise ValueError(
                    f"out holds {n_samples} samples, not a whole number of "
                    f"{self._channels}-channel frames"
                )
            n = n_samples // self._channels
            if n > self._count:
                n = self._count
            self._copy_out(<char*>view.buf, n)
            self._advance(n)
            return n
        finally:
            PyBuffer_Release(&view)

    def clear(self):
        """Discard everything buffered (not counted in `dropped_samples`)."""
        self._head = 0
        self._count = 0
