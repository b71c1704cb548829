# cython: language_level=3
"""Declarations of the C kernels in _kernels.h."""

from libc.stdint cimport int16_t


cdef extern from "_kernels.h" nogil:
    long dsp_poly_dot(const float* buf, long n_new, const float* bank, int k_pad, int up,
                      int down, int* phase, long* pos, float* out)
    long dsp_poly_up(const float* buf, long pos0, long n_new, const float* bank, int k_pad,
                     int first_tap, int up, float* out, long ostride)
    long dsp_poly_down(const float* d, long k0, long k1, const float* taps, const long* offs,
                       int n_taps, float* out)
    void dsp_interleave(const float* y0, const float* y1, long ystride, int up, long n_groups,
                        int out_ch, float* out)
    void dsp_f32_to_i16(const float* y, long n, int16_t* out)
