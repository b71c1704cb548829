# cython: language_level=3
"""Fixed-capacity int16 ring buffer; `cimport` this to type instances (see _ring.pyx)."""

from libc.stdint cimport int16_t, int64_t

cimport numpy as cnp


cdef class RingBuffer:
    cdef int16_t* _data
    cdef Py_ssize_t _capacity      # frames
    cdef int _channels
    cdef bint _drop_oldest
    cdef Py_ssize_t _head          # frame index of the oldest frame
    cdef Py_ssize_t _count         # frames buffered
    cdef int64_t _dropped

    cdef void _copy_out(self, int16_t* dst, Py_ssize_t n) noexcept nogil
    cdef void _advance(self, Py_ssize_t n) noexcept nogil
    cdef void _copy_in(self, const int16_t* src, Py_ssize_t n) noexcept nogil
    cdef Py_ssize_t _check_n(self, n) except -1
    cdef cnp.ndarray _new_array(self, Py_ssize_t n)
