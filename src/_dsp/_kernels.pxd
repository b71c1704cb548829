# cython: language_level=3
"""Declarations of the C kernel tables in _kernels.h."""

from libc.stdint cimport int16_t, int32_t


cdef extern from "_kernels.h" nogil:
    ctypedef struct DspKernels:
        const char* name
        long (*poly_dot)(const float* buf, long n_new, const float* bank, int k_pad, int up,
                         int down, int* phase, long* pos, float* out) noexcept nogil
        long (*poly_up)(const float* buf, long pos0, long n_new, const float* bank,
                        int k_pad, int first_tap, int up, float* out,
                        long ostride) noexcept nogil
        long (*poly_down)(const float* d, long k0, long k1, const float* taps,
                          const long* offs, int n_taps, float* out) noexcept nogil
        void (*gather)(const float* src, long n, int step, float* dst) noexcept nogil
        void (*interleave)(const float* y0, const float* y1, long ystride, int up,
                           long n_groups, int out_ch, float* out) noexcept nogil
        void (*f32_to_i16)(const float* y, long n, int16_t* out) noexcept nogil
        void (*i16_to_f32)(const int16_t* src, long n_frames, int channels, int mix,
                           float* dst0, float* dst1) noexcept nogil
        void (*f32_to_f32)(const float* src, long n_frames, int channels, int mix,
                           float* dst0, float* dst1) noexcept nogil
        void (*mix_i16)(const int16_t* const* srcs, long n_src, int16_t* out,
                        long n) noexcept nogil
        int32_t (*peak_i16)(const int16_t* src, long n) noexcept nogil

    const DspKernels* const dsp_levels[]
    const int dsp_n_levels
    int dsp_cpu_has(int i)
