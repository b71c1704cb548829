/* Hot loops of the resampler and the mixer.
 *
 * Vector code uses GCC/Clang vector extensions (16 float lanes), so one source compiles to
 * AVX-512, AVX2+FMA or SSE2; on glibc x86-64 `target_clones` picks the widest variant at
 * load time, so the default build stays portable. Summation order is fixed by the source,
 * never by the clone, which keeps streaming output independent of chunking.
 */
#ifndef BRIDGE_DSP_KERNELS_H
#define BRIDGE_DSP_KERNELS_H

#include <stdint.h>
#include <string.h>
#include <math.h>

#if defined(__GNUC__) && !defined(__clang__)
/* 64-byte vector helpers are always inlined, so the psABI note about them is moot. */
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

#if defined(__x86_64__) && defined(__linux__) && defined(__GLIBC__) && \
    (defined(__clang__) ? (__clang_major__ >= 14) : (defined(__GNUC__) && __GNUC__ >= 8))
#define DSP_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define DSP_CLONES
#endif

#define DSP_LANES 16
typedef float dsp_v16 __attribute__((vector_size(64)));
typedef float dsp_v8 __attribute__((vector_size(32)));
typedef float dsp_v4 __attribute__((vector_size(16)));

static inline __attribute__((always_inline)) dsp_v16 dsp_load16(const float *p) {
    dsp_v16 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline __attribute__((always_inline)) float dsp_hsum16(dsp_v16 s) {
    dsp_v8 lo, hi;
    memcpy(&lo, &s, sizeof lo);
    memcpy(&hi, (const char *)&s + sizeof lo, sizeof hi);
    dsp_v8 s8 = lo + hi;
    dsp_v4 lo4, hi4;
    memcpy(&lo4, &s8, sizeof lo4);
    memcpy(&hi4, (const char *)&s8 + sizeof lo4, sizeof hi4);
    dsp_v4 s4 = lo4 + hi4;
    return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}

/* Dot product of two float vectors whose length is a multiple of 16. */
static inline __attribute__((always_inline)) float dsp_dot16(const float *a, const float *b,
                                                             int n) {
    dsp_v16 acc0 = {0}, acc1 = {0}, acc2 = {0}, acc3 = {0};
    int j = 0;
    for (; j + 4 * DSP_LANES <= n; j += 4 * DSP_LANES) {
        acc0 += dsp_load16(a + j) * dsp_load16(b + j);
        acc1 += dsp_load16(a + j + 16) * dsp_load16(b + j + 16);
        acc2 += dsp_load16(a + j + 32) * dsp_load16(b + j + 32);
        acc3 += dsp_load16(a + j + 48) * dsp_load16(b + j + 48);
    }
    for (; j < n; j += DSP_LANES) acc0 += dsp_load16(a + j) * dsp_load16(b + j);
    return dsp_hsum16((acc0 + acc1) + (acc2 + acc3));
}

/* General rational polyphase kernel (any up/down).
 *
 * `buf` holds k_pad - 1 history samples followed by `n_new` new ones. Output number j has
 * phase *phase and ends at new sample *pos; its window is buf[*pos .. *pos + k_pad).
 * `bank` holds `up` reversed sub-filters of k_pad taps each. Writes outputs to out[0],
 * out[stride], ... and returns how many; *phase and *pos are advanced past them.
 */
DSP_CLONES
static long dsp_poly_dot(const float *buf, long n_new, const float *bank, int k_pad, int up,
                         int down, int *phase, long *pos, float *out) {
    long n_out = 0;
    int ph = *phase;
    long ps = *pos;
    while (ps < n_new) {
        out[n_out++] = dsp_dot16(bank + (long)ph * k_pad, buf + ps, k_pad);
        ph += down;
        ps += ph / up;
        ph %= up;
    }
    *phase = ph;
    *pos = ps;
    return n_out;
}

/* Pure interpolation (down == 1): outputs for 64 consecutive input samples at once (four
 * independent accumulators hide the FMA latency), one phase at a time, so no horizontal
 * sums are needed. Every lane sums taps first_tap..k_pad-1 in order. `buf` must have 64
 * readable floats of slack past the new samples. Phase p of input i goes to
 * out[p * ostride + i - pos0] (phase-major; 64 floats of slack per phase). Returns the
 * number of outputs, (n_new - pos0) * up.
 */
DSP_CLONES
static long dsp_poly_up(const float *buf, long pos0, long n_new, const float *bank, int k_pad,
                        int first_tap, int up, float *out, long ostride) {
    for (long i = pos0; i < n_new; i += 4 * DSP_LANES) {
        for (int p = 0; p < up; p++) {
            const float *h = bank + (long)p * k_pad;
            const float *x = buf + i;
            dsp_v16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
            for (int t = first_tap; t < k_pad; t++) {
                float c = h[t];
                a0 += c * dsp_load16(x + t);
                a1 += c * dsp_load16(x + t + 16);
                a2 += c * dsp_load16(x + t + 32);
                a3 += c * dsp_load16(x + t + 48);
            }
            float *o = out + p * ostride + (i - pos0);
            memcpy(o, &a0, sizeof a0);
            memcpy(o + 16, &a1, sizeof a1);
            memcpy(o + 32, &a2, sizeof a2);
            memcpy(o + 48, &a3, sizeof a3);
        }
    }
    return (n_new - pos0) * up;
}

/* Pure decimation (up == 1) on `down` deinterleaved streams of the input: with tap
 * t = u*down + r, output k needs x[k*down - t] = d[offs[t] + k] where the caller sets
 * offs[t] = r*stride - u + U for an origin U of its choice. Computes outputs k0 .. k1-1
 * 64 at a time, every lane summing the taps in order; each stream and `out` need 64
 * floats of slack.
 */
DSP_CLONES
static long dsp_poly_down(const float *d, long k0, long k1, const float *taps, const long *offs,
                          int n_taps, float *out) {
    for (long k = k0; k < k1; k += 4 * DSP_LANES) {
        dsp_v16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
        for (int t = 0; t < n_taps; t++) {
            const float *x = d + offs[t] + k;
            float c = taps[t];
            a0 += c * dsp_load16(x);
            a1 += c * dsp_load16(x + 16);
            a2 += c * dsp_load16(x + 32);
            a3 += c * dsp_load16(x + 48);
        }
        float *o = out + (k - k0);
        memcpy(o, &a0, sizeof a0);
        memcpy(o + 16, &a1, sizeof a1);
        memcpy(o + 32, &a2, sizeof a2);
        memcpy(o + 48, &a3, sizeof a3);
    }
    return k1 - k0;
}

/* Interleave kernel outputs: output j = i*up + p comes from ych[p*ystride + i] for
 * channel ch (y1 == y0 duplicates mono). Constant up/out_ch let the compiler vectorize
 * the strided stores.
 */
static inline __attribute__((always_inline)) void dsp_interleave_k(
    const float *y0, const float *y1, long ystride, long n_groups, float *out, const int up,
    const int out_ch) {
    for (long i = 0; i < n_groups; i++) {
        for (int p = 0; p < up; p++) {
            out[(i * up + p) * out_ch] = y0[p * ystride + i];
            if (out_ch == 2) out[(i * up + p) * out_ch + 1] = y1[p * ystride + i];
        }
    }
}

DSP_CLONES
static void dsp_interleave(const float *y0, const float *y1, long ystride, int up,
                           long n_groups, int out_ch, float *out) {
    if (out_ch == 1) {
        switch (up) {
        case 1: memcpy(out, y0, n_groups * sizeof(float)); return;
        case 2: dsp_interleave_k(y0, y1, ystride, n_groups, out, 2, 1); return;
        case 3: dsp_interleave_k(y0, y1, ystride, n_groups, out, 3, 1); return;
        default: dsp_interleave_k(y0, y1, ystride, n_groups, out, up, 1); return;
        }
    }
    switch (up) {
    case 1: dsp_interleave_k(y0, y1, ystride, n_groups, out, 1, 2); return;
    case 2: dsp_interleave_k(y0, y1, ystride, n_groups, out, 2, 2); return;
    case 3: dsp_interleave_k(y0, y1, ystride, n_groups, out, 3, 2); return;
    default: dsp_interleave_k(y0, y1, ystride, n_groups, out, up, 2); return;
    }
}

/* float -> int16, clamped then rounded to nearest-even (adding and removing 1.5 * 2^23
 * rounds exactly like lrintf in the default mode, and vectorizes), so it saturates
 * instead of wrapping. NaN becomes 0.
 */
DSP_CLONES
static void dsp_f32_to_i16(const float *y, long n, int16_t *out) {
    for (long i = 0; i < n; i++) {
        float v = y[i];
        v = v > -32768.0f ? v : (v == v ? -32768.0f : 0.0f);
        v = v < 32767.0f ? v : 32767.0f;
        v = (v + 12582912.0f) - 12582912.0f;
        out[i] = (int16_t)(int32_t)v;
    }
}

#endif
