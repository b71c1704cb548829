# cython: language_level=3
"""Speaker mixer for the uplink: int32 sum of int16 frames, then a soft clip."""

from cpython.buffer cimport PyBuffer_Release
from cpython.pyport cimport PY_SSIZE_T_MAX
from libc.stdint cimport int16_t, int32_t
from libc.stdlib cimport free, malloc

from ._buffers cimport KIND_INT16, get_audio_buffer
from ._isa cimport active_kernels


def mix_into(frames, out):
    """mix_into(frames, out) -> int

    Sum equal-length int16 buffers into writable int16 `out` with a soft clip.

    Sums in int32, passes values up to the knee (0.75 of full scale) unchanged and maps
    larger magnitudes through a smooth monotone curve that approaches full scale, so the
    result never wraps. Empty `frames` writes zeros. Returns the number of int16 samples
    written (`len(out)`); ValueError naming both lengths on a length mismatch.
    """
    cdef Py_buffer out_view
    # Size the tables from the items themselves: a __len__ that disagrees with iteration
    # would otherwise make the loop below write past them.
    try:
        frames = [frame for frame in frames]
    except TypeError:
        raise TypeError(
            f"frames must be an iterable of int16 buffers, got {type(frames).__name__}"
        ) from None
    cdef Py_ssize_t n_src = len(frames)
    cdef Py_buffer* views = NULL
    cdef const int16_t** srcs = NULL
    cdef Py_ssize_t n_held = 0, n, j
    if get_audio_buffer(out, &out_view, True, "out") != KIND_INT16:
        PyBuffer_Release(&out_view)
        raise TypeError("out must be a writable int16 buffer")
    n = out_view.len // 2
    try:
        if n_src >= PY_SSIZE_T_MAX // <Py_ssize_t>sizeof(Py_buffer):
            raise ValueError(f"{n_src} frames exceed the limit of the mixer's frame table")
        views = <Py_buffer*>malloc((n_src + 1) * sizeof(Py_buffer))
        srcs = <const int16_t**>malloc((n_src + 1) * sizeof(int16_t*))
        if views == NULL or srcs == NULL:
            raise MemoryError("cannot allocate the mixer's frame table")
        for j, frame in enumerate(frames):
            if get_audio_buffer(frame, &views[j], False, f"frames[{j}]") != KIND_INT16:
                PyBuffer_Release(&views[j])
                raise TypeError(f"frames[{j}] must be an int16 buffer")
            n_held = j + 1
            if views[j].len // 2 != n:
                raise ValueError(
                    f"frames[{j}] holds {views[j].len // 2} samples but out holds {n}"
                )
            srcs[j] = <const int16_t*>views[j].buf
        with nogil:
            active_kernels().mix_i16(srcs, n_held, <int16_t*>out_view.buf, n)
        return n
    finally:
        for j in range(n_held):
            PyBuffer_Release(&views[j])
        free(views)
        free(srcs)
        PyBuffer_Release(&out_view)


def peak_abs(data):
    """peak_abs(data) -> int

    Largest absolute sample value of an int16 buffer, 0..32768 (so -32768 reads as 32768).

    The uplink's voice-activity detector calls it on every 10 ms frame, where numpy's
    `abs` + `max` would cost more in call overhead than in arithmetic.
    """
    cdef Py_buffer view
    if get_audio_buffer(data, &view, False, "data") != KIND_INT16:
        PyBuffer_Release(&view)
        raise TypeError("data must be an int16 buffer")
    cdef int32_t peak
    try:
        with nogil:
            peak = active_kernels().peak_i16(<const int16_t*>view.buf, view.len // 2)
        return peak
    finally:
        PyBuffer_Release(&view)
