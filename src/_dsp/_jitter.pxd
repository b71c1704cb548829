# cython: language_level=3
"""Playout buffer for bursty audio; `cimport` this to type instances (see _jitter.pyx)."""

from libc.stdint cimport int16_t, int64_t


cdef class JitterBuffer:
    cdef int16_t* _data
    cdef Py_ssize_t _cap, _head, _count
    cdef int _rate, _ch, _frame_ms, _frame, _fade
    cdef double _fade_ms
    cdef double _base_target, _target, _max_target   # samples per channel
    cdef int _state
    cdef bint _fade_in
    cdef Py_ssize_t _end_left      # buffered samples before the mark_end() point
    cdef Py_ssize_t _clear_keep
    cdef bint _clear_pending
    cdef int _stable
    cdef int64_t _underruns, _dropped, _played

    cdef Py_ssize_t _take(self, int16_t* dst, Py_ssize_t n) noexcept
    cdef void _ramp(self, int16_t* dst, Py_ssize_t start, Py_ssize_t n,
                    bint rising) noexcept
    cdef Py_ssize_t _pop(self, int16_t* dst) noexcept
