# cython: language_level=3
"""Polyphase resampler; `cimport` this to type instances (see _resample.pyx)."""

cimport numpy as cnp

from ._kernels cimport DspKernels


cdef class Resampler:
    cdef int _in_rate, _out_rate, _in_ch, _out_ch, _n_proc
    cdef int _up, _down, _mode, _n_taps, _k_pad, _first_tap, _hist
    cdef int _phase
    cdef long _pos
    cdef long _dstride, _dorigin, _ystride
    cdef int _last_kind
    cdef bint _busy
    cdef const DspKernels* _k   # the ISA level's kernels, fixed at construction
    cdef float* _bank
    cdef float* _dtaps
    cdef long* _doffs
    cdef float* _buf[2]
    cdef float* _y[2]
    cdef float* _d
    cdef float* _z      # interleaved outputs before int16 conversion
    cdef object _taps
    cdef str _quality

    cdef _allocate(self, cnp.ndarray h64)
    cdef void _clear_state(self) noexcept
    cdef Py_ssize_t _n_out(self, Py_ssize_t n_in) noexcept
    cdef Py_ssize_t _check_input(self, Py_buffer* view, int kind) except -1
    cdef int _run_locked(self, const void* src, int kind, Py_ssize_t n_in,
                         void* dst) except -1
    cdef void _load(self, const void* src, int kind, Py_ssize_t start,
                    Py_ssize_t nb) noexcept nogil
    cdef long _filter(self, int c, long nb) noexcept nogil
    cdef void _advance(self, long nb, long n_out) noexcept nogil
    cdef void _run(self, const void* src, int kind, Py_ssize_t n_in,
                   void* dst) noexcept nogil
