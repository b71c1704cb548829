# cython: language_level=3
"""Fixed-capacity audio ring buffer; `cimport` this to type instances (see _ring.pyx)."""

from libc.stdint cimport int64_t

cimport numpy as cnp


cdef class RingBuffer:
    cdef char* _data
    cdef Py_ssize_t _capacity      # frames
    cdef int _channels
    cdef int _kind                 # KIND_INT16 or KIND_FLOAT32 (see _buffers.pxd)
    cdef Py_ssize_t _frame_bytes   # bytes per frame: sample size * channels
    cdef bint _drop_oldest
    cdef Py_ssize_t _head          # frame index of the oldest frame
    cdef Py_ssize_t _count         # frames buffered
    cdef int64_t _dropped

    cdef void _copy_out(self, char* dst, Py_ssize_t n) noexcept nogil
    cdef void _advance(self, Py_ssize_t n) noexcept nogil
    cdef void _copy_in(self, const char* src, Py_ssize_t n) noexcept nogil
    cdef Py_ssize_t _check_n(self, n) except -1
    cdef cnp.ndarray _new_array(self, Py_ssize_t n)
