/* The DSP kernels' interface: one table of function pointers per ISA level.
 *
 * _kernels.c compiles every kernel once per level (_kernels_level.h) with the vector
 * width of that level's registers: x86-64 baseline SSE2 (4 float lanes), x86-64-v3
 * AVX2+FMA (8) and x86-64-v4 AVX-512 (16); NEON (4) on aarch64; plain 4-lane generic
 * vectors elsewhere. _isa.pyx picks the widest level the CPU has (or the one named by
 * BRIDGE_DSP_ISA) at import; a Resampler keeps the table it was built with.
 */
#ifndef BRIDGE_DSP_KERNELS_H
#define BRIDGE_DSP_KERNELS_H

#include <stdint.h>

/* General rational polyphase kernel (any up/down). `buf` holds k_pad - 1 history samples
 * followed by `n_new` new ones. Output j has phase *phase and ends at new sample *pos; its
 * window is buf[*pos .. *pos + k_pad), k_pad a multiple of 16. `bank` holds `up` reversed
 * sub-filters of k_pad taps each. Returns the outputs written to out[0..]; *phase and *pos
 * are advanced past them. */
typedef long (*dsp_poly_dot_fn)(const float *buf, long n_new, const float *bank, int k_pad,
                                int up, int down, int *phase, long *pos, float *out);

/* Pure interpolation (down == 1). Every output sums taps first_tap..k_pad-1 in order. `buf`
 * needs 64 readable floats of slack past the new samples. Phase p of input i goes to
 * out[p * ostride + i - pos0] (phase-major; 64 floats of slack per phase). Returns
 * (n_new - pos0) * up. */
typedef long (*dsp_poly_up_fn)(const float *buf, long pos0, long n_new, const float *bank,
                               int k_pad, int first_tap, int up, float *out, long ostride);

/* Pure decimation (up == 1) on `down` deinterleaved streams: with tap t = u*down + r,
 * output k needs x[k*down - t] = d[offs[t] + k] where the caller sets
 * offs[t] = r*stride - u + U for an origin U of its choice. Computes outputs k0 .. k1-1,
 * every output summing the taps in order; each stream and `out` need 64 floats of slack. */
typedef long (*dsp_poly_down_fn)(const float *d, long k0, long k1, const float *taps,
                                 const long *offs, int n_taps, float *out);

/* dst[j] = src[j * step] for j < n. */
typedef void (*dsp_gather_fn)(const float *src, long n, int step, float *dst);

/* Interleave kernel outputs: output j = i*up + p comes from ych[p*ystride + i] for channel
 * ch (y1 == y0 duplicates mono). */
typedef void (*dsp_interleave_fn)(const float *y0, const float *y1, long ystride, int up,
                                  long n_groups, int out_ch, float *out);

/* float -> int16, rounded to nearest-even and saturated; NaN becomes 0. */
typedef void (*dsp_f32_to_i16_fn)(const float *y, long n, int16_t *out);

/* Interleaved int16 or float32 frames -> float channel buffers: mono copies to dst0;
 * stereo with mix averages into dst0; stereo without mix splits into dst0 and dst1. */
typedef void (*dsp_i16_to_f32_fn)(const int16_t *src, long n_frames, int channels, int mix,
                                  float *dst0, float *dst1);
typedef void (*dsp_f32_to_f32_fn)(const float *src, long n_frames, int channels, int mix,
                                  float *dst0, float *dst1);

/* Sum n_src int16 buffers of n samples in int32 and soft clip into out (see _mix.pyx). */
typedef void (*dsp_mix_i16_fn)(const int16_t *const *srcs, long n_src, int16_t *out, long n);

/* Largest absolute value of n int16 samples, 0..32768. */
typedef int32_t (*dsp_peak_i16_fn)(const int16_t *src, long n);

typedef struct DspKernels {
    const char *name; /* the level: "sse2", "avx2", "avx512", "neon" or "generic" */
    dsp_poly_dot_fn poly_dot;
    dsp_poly_up_fn poly_up;
    dsp_poly_down_fn poly_down;
    dsp_gather_fn gather;
    dsp_interleave_fn interleave;
    dsp_f32_to_i16_fn f32_to_i16;
    dsp_i16_to_f32_fn i16_to_f32;
    dsp_f32_to_f32_fn f32_to_f32;
    dsp_mix_i16_fn mix_i16;
    dsp_peak_i16_fn peak_i16;
} DspKernels;

/* The levels compiled into this build, narrowest first, and their count. */
extern const DspKernels *const dsp_levels[];
extern const int dsp_n_levels;

/* 1 if the CPU (and OS) can run level `i` of dsp_levels, else 0. */
int dsp_cpu_has(int i);

#endif
