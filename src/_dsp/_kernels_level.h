/* One ISA level of the kernels: _kernels.c includes this file once per level with
 *   DSP_SFX   name suffix (sse2, avx2, avx512, neon, generic)
 *   DSP_TGT   function attribute enabling the level's instructions (may be empty)
 *   DSP_W     float lanes of one native vector (4, 8 or 16)
 *   DSP_NACC  independent accumulators per block (DSP_NACC * DSP_W <= 64 outputs)
 * and ends with the level's table, `dsp_kernels_<sfx>`.
 *
 * Each function is compiled with the level's vector width, so no vector is wider than the
 * registers. Every output sums its taps in one order fixed by the source and the level,
 * never by the block it falls in, which keeps streaming output independent of chunking.
 * Levels may differ in the last bits (FMA contraction, horizontal sum order).
 */

#define DSP_CAT2(a, b) a##_##b
#define DSP_CAT(a, b) DSP_CAT2(a, b)
#define DSP_NAME(n) DSP_CAT(n, DSP_SFX)
#define DSP_INLINE static inline __attribute__((always_inline)) DSP_TGT
#define DSP_FN static DSP_TGT
#define DSP_BLOCK (DSP_NACC * DSP_W)
_Static_assert(DSP_BLOCK <= 64, "callers provide 64 floats of slack per block");

#define VF DSP_NAME(dsp_vf)
typedef float VF __attribute__((vector_size(DSP_W * 4)));

#define VI DSP_NAME(dsp_vi)
typedef int32_t VI __attribute__((vector_size(DSP_W * 4)));
#define VS DSP_NAME(dsp_vs)
typedef int16_t VS __attribute__((vector_size(DSP_W * 2)));

DSP_INLINE VF DSP_NAME(dsp_splat)(float x) {
    VF v;
    for (int i = 0; i < DSP_W; i++) v[i] = x;
    return v;
}

/* mask ? a : b lane by lane (a mask lane is all ones or all zeros). */
DSP_INLINE VF DSP_NAME(dsp_select)(VI mask, VF a, VF b) {
    return (VF)(((VI)a & mask) | ((VI)b & ~mask));
}

DSP_INLINE VF DSP_NAME(dsp_load)(const float *p) {
    VF v;
    memcpy(&v, p, sizeof v);
    return v;
}

DSP_INLINE float DSP_NAME(dsp_hsum)(VF s) {
    float t[DSP_W];
    memcpy(t, &s, sizeof t);
    for (int w = DSP_W / 2; w > 0; w /= 2)
        for (int i = 0; i < w; i++) t[i] += t[i + w];
    return t[0];
}

/* Dot product of two float vectors whose length is a multiple of 16. */
DSP_INLINE float DSP_NAME(dsp_dot)(const float *a, const float *b, int n) {
    VF acc0 = {0}, acc1 = {0}, acc2 = {0}, acc3 = {0};
    int j = 0;
    for (; j + 4 * DSP_W <= n; j += 4 * DSP_W) {
        acc0 += DSP_NAME(dsp_load)(a + j) * DSP_NAME(dsp_load)(b + j);
        acc1 += DSP_NAME(dsp_load)(a + j + DSP_W) * DSP_NAME(dsp_load)(b + j + DSP_W);
        acc2 += DSP_NAME(dsp_load)(a + j + 2 * DSP_W) * DSP_NAME(dsp_load)(b + j + 2 * DSP_W);
        acc3 += DSP_NAME(dsp_load)(a + j + 3 * DSP_W) * DSP_NAME(dsp_load)(b + j + 3 * DSP_W);
    }
    for (; j < n; j += DSP_W) acc0 += DSP_NAME(dsp_load)(a + j) * DSP_NAME(dsp_load)(b + j);
    return DSP_NAME(dsp_hsum)((acc0 + acc1) + (acc2 + acc3));
}

/* General rational polyphase kernel (any up/down): see dsp_poly_dot_fn in _kernels.h. */
DSP_FN long DSP_NAME(dsp_poly_dot)(const float *buf, long n_new, const float *bank, int k_pad,
                                   int up, int down, int *phase, long *pos, float *out) {
    long n_out = 0;
    int ph = *phase;
    long ps = *pos;
    while (ps < n_new) {
        out[n_out++] = DSP_NAME(dsp_dot)(bank + (long)ph * k_pad, buf + ps, k_pad);
        ph += down;
        ps += ph / up;
        ph %= up;
    }
    *phase = ph;
    *pos = ps;
    return n_out;
}

/* Pure interpolation (down == 1): see dsp_poly_up_fn. One block is DSP_BLOCK consecutive
 * inputs, one phase at a time; the accumulators hide the FMA latency and no horizontal
 * sums are needed. */
DSP_FN long DSP_NAME(dsp_poly_up)(const float *buf, long pos0, long n_new, const float *bank,
                                  int k_pad, int first_tap, int up, float *out, long ostride) {
    for (long i = pos0; i < n_new; i += DSP_BLOCK) {
        for (int p = 0; p < up; p++) {
            const float *h = bank + (long)p * k_pad;
            const float *x = buf + i;
            VF acc[DSP_NACC];
            for (int a = 0; a < DSP_NACC; a++) acc[a] = (VF){0};
            for (int t = first_tap; t < k_pad; t++) {
                float c = h[t];
                for (int a = 0; a < DSP_NACC; a++)
                    acc[a] += c * DSP_NAME(dsp_load)(x + t + a * DSP_W);
            }
            float *o = out + p * ostride + (i - pos0);
            for (int a = 0; a < DSP_NACC; a++) memcpy(o + a * DSP_W, &acc[a], sizeof acc[a]);
        }
    }
    return (n_new - pos0) * up;
}

/* Pure decimation (up == 1) on deinterleaved streams: see dsp_poly_down_fn. */
DSP_FN long DSP_NAME(dsp_poly_down)(const float *d, long k0, long k1, const float *taps,
                                    const long *offs, int n_taps, float *out) {
    for (long k = k0; k < k1; k += DSP_BLOCK) {
        VF acc[DSP_NACC];
        for (int a = 0; a < DSP_NACC; a++) acc[a] = (VF){0};
        for (int t = 0; t < n_taps; t++) {
            const float *x = d + offs[t] + k;
            float c = taps[t];
            for (int a = 0; a < DSP_NACC; a++) acc[a] += c * DSP_NAME(dsp_load)(x + a * DSP_W);
        }
        float *o = out + (k - k0);
        for (int a = 0; a < DSP_NACC; a++) memcpy(o + a * DSP_W, &acc[a], sizeof acc[a]);
    }
    return k1 - k0;
}

/* Every `step`-th sample of src into dst (the decimator's stream split); constant steps
 * let the compiler use shuffles instead of scalar loads. */
DSP_INLINE void DSP_NAME(dsp_gather_k)(const float *src, long n, float *dst, const int step) {
    for (long j = 0; j < n; j++) dst[j] = src[j * step];
}

DSP_FN void DSP_NAME(dsp_gather)(const float *src, long n, int step, float *dst) {
    switch (step) {
    case 2: DSP_NAME(dsp_gather_k)(src, n, dst, 2); return;
    case 3: DSP_NAME(dsp_gather_k)(src, n, dst, 3); return;
    default: DSP_NAME(dsp_gather_k)(src, n, dst, step); return;
    }
}

DSP_INLINE void DSP_NAME(dsp_interleave_k)(const float *y0, const float *y1, long ystride,
                                           long n_groups, float *out, const int up,
                                           const int out_ch) {
    for (long i = 0; i < n_groups; i++) {
        for (int p = 0; p < up; p++) {
            out[(i * up + p) * out_ch] = y0[p * ystride + i];
            if (out_ch == 2) out[(i * up + p) * out_ch + 1] = y1[p * ystride + i];
        }
    }
}

/* Interleave kernel outputs: see dsp_interleave_fn. Constant up/out_ch let the compiler
 * vectorize the strided stores. */
DSP_FN void DSP_NAME(dsp_interleave)(const float *y0, const float *y1, long ystride, int up,
                                     long n_groups, int out_ch, float *out) {
    if (out_ch == 1) {
        switch (up) {
        case 1: memcpy(out, y0, n_groups * sizeof(float)); return;
        case 2: DSP_NAME(dsp_interleave_k)(y0, y1, ystride, n_groups, out, 2, 1); return;
        case 3: DSP_NAME(dsp_interleave_k)(y0, y1, ystride, n_groups, out, 3, 1); return;
        default: DSP_NAME(dsp_interleave_k)(y0, y1, ystride, n_groups, out, up, 1); return;
        }
    }
    switch (up) {
    case 1: DSP_NAME(dsp_interleave_k)(y0, y1, ystride, n_groups, out, 1, 2); return;
    case 2: DSP_NAME(dsp_interleave_k)(y0, y1, ystride, n_groups, out, 2, 2); return;
    case 3: DSP_NAME(dsp_interleave_k)(y0, y1, ystride, n_groups, out, 3, 2); return;
    default: DSP_NAME(dsp_interleave_k)(y0, y1, ystride, n_groups, out, up, 2); return;
    }
}

/* float -> int16: NaN to 0, clamped, then rounded to nearest-even (adding and removing
 * 1.5 * 2^23 rounds exactly like lrintf in the default mode), so it saturates instead of
 * wrapping. Written with vector masks: GCC turns the scalar selects into branches. */
DSP_FN void DSP_NAME(dsp_f32_to_i16)(const float *y, long n, int16_t *out) {
    const VF lo = DSP_NAME(dsp_splat)(-32768.0f), hi = DSP_NAME(dsp_splat)(32767.0f);
    const VF magic = DSP_NAME(dsp_splat)(12582912.0f);
    long i = 0;
#if DSP_W == 4 && defined(__SSE2__)
    /* SSE2 has no int32 -> int16 truncation: pack two vectors with signed saturation
     * (exact here, the values are already in range) instead of a chain of shuffles. */
    for (; i + 8 <= n; i += 8) {
        __m128 a = _mm_loadu_ps(y + i), b = _mm_loadu_ps(y + i + 4);
        a = _mm_and_ps(a, _mm_cmpeq_ps(a, a));
        b = _mm_and_ps(b, _mm_cmpeq_ps(b, b));
        a = _mm_min_ps(_mm_max_ps(a, lo), hi);
        b = _mm_min_ps(_mm_max_ps(b, lo), hi);
        a = _mm_sub_ps(_mm_add_ps(a, magic), magic);
        b = _mm_sub_ps(_mm_add_ps(b, magic), magic);
        _mm_storeu_si128((__m128i *)(out + i),
                         _mm_packs_epi32(_mm_cvttps_epi32(a), _mm_cvttps_epi32(b)));
    }
#endif
    for (; i + DSP_W <= n; i += DSP_W) {
        VF v = DSP_NAME(dsp_load)(y + i);
        v = (VF)((VI)v & (v == v));
        v = DSP_NAME(dsp_select)(v > lo, v, lo);
        v = DSP_NAME(dsp_select)(v < hi, v, hi);
        v = (v + magic) - magic;
        VS s = __builtin_convertvector(__builtin_convertvector(v, VI), VS);
        memcpy(out + i, &s, sizeof s);
    }
    for (; i < n; i++) {
        float v = y[i];
        v = v == v ? v : 0.0f;
        v = v > -32768.0f ? v : -32768.0f;
        v = v < 32767.0f ? v : 32767.0f;
        v = (v + 12582912.0f) - 12582912.0f;
        out[i] = (int16_t)(int32_t)v;
    }
}

/* Input conversion: `channels` 1 copies, 2 with mix averages each frame into dst0,
 * 2 without mix splits the frames into dst0 and dst1. */
DSP_FN void DSP_NAME(dsp_i16_to_f32)(const int16_t *src, long n_frames, int channels,
                                     int mix, float *dst0, float *dst1) {
    if (channels == 1) {
        for (long i = 0; i < n_frames; i++) dst0[i] = (float)src[i];
    } else if (mix) {
        for (long i = 0; i < n_frames; i++)
            dst0[i] = ((float)src[2 * i] + (float)src[2 * i + 1]) * 0.5f;
    } else {
        for (long i = 0; i < n_frames; i++) {
            dst0[i] = (float)src[2 * i];
            dst1[i] = (float)src[2 * i + 1];
        }
    }
}

DSP_FN void DSP_NAME(dsp_f32_to_f32)(const float *src, long n_frames, int channels, int mix,
                                     float *dst0, float *dst1) {
    if (channels == 1) {
        memcpy(dst0, src, n_frames * sizeof(float));
    } else if (mix) {
        for (long i = 0; i < n_frames; i++) dst0[i] = (src[2 * i] + src[2 * i + 1]) * 0.5f;
    } else {
        for (long i = 0; i < n_frames; i++) {
            dst0[i] = src[2 * i];
            dst1[i] = src[2 * i + 1];
        }
    }
}

/* Soft clip of an int32 sum above the knee: knee + r * u / (1 + u) with
 * u = (|s| - knee) / r, slope 1 at the knee, approaching full scale without passing it.
 * Written as full - r / (1 + u), which has no multiply-add for FMA to contract, so every
 * level gives the same integers. */
DSP_INLINE int16_t DSP_NAME(dsp_soft_clip)(int32_t s) {
    const float knee = 24576.0f, range = 32767.0f - 24576.0f;
    if (s >= -24576 && s <= 24576) return (int16_t)s;
    float a = (float)(s > 0 ? s : -s);
    float u = (a - knee) / range;
    int32_t m = (int32_t)(32767.0f - range / (1.0f + u) + 0.5f);
    return (int16_t)(s > 0 ? m : -m);
}

/* Sum n_src int16 buffers of n samples in int32, soft clip into out. Blocks whose sums
 * all stay within the knee (the usual case) are narrowed without the clip, vectorized. */
DSP_FN void DSP_NAME(dsp_mix_i16)(const int16_t *const *srcs, long n_src, int16_t *out,
                                  long n) {
    int32_t acc[512];
    for (long start = 0; start < n; start += 512) {
        long m = n - start < 512 ? n - start : 512;
        memset(acc, 0, m * sizeof(int32_t));
        for (long j = 0; j < n_src; j++) {
            const int16_t *src = srcs[j] + start;
            for (long i = 0; i < m; i++) acc[i] += src[i];
        }
        int32_t peak = 0;
        for (long i = 0; i < m; i++) {
            int32_t a = acc[i] < 0 ? -acc[i] : acc[i];
            peak = a > peak ? a : peak;
        }
        if (peak <= 24576) {
            for (long i = 0; i < m; i++) out[start + i] = (int16_t)acc[i];
        } else {
            for (long i = 0; i < m; i++) out[start + i] = DSP_NAME(dsp_soft_clip)(acc[i]);
        }
    }
}

/* Largest |sample| of n int16 samples, 0..32768. */
DSP_FN int32_t DSP_NAME(dsp_peak_i16)(const int16_t *src, long n) {
    int32_t peak = 0;
    for (long i = 0; i < n; i++) {
        int32_t a = src[i];
        a = a < 0 ? -a : a;
        peak = a > peak ? a : peak;
    }
    return peak;
}

static const DspKernels DSP_NAME(dsp_kernels) = {
    DSP_STR(DSP_SFX),
    DSP_NAME(dsp_poly_dot),
    DSP_NAME(dsp_poly_up),
    DSP_NAME(dsp_poly_down),
    DSP_NAME(dsp_gather),
    DSP_NAME(dsp_interleave),
    DSP_NAME(dsp_f32_to_i16),
    DSP_NAME(dsp_i16_to_f32),
    DSP_NAME(dsp_f32_to_f32),
    DSP_NAME(dsp_mix_i16),
    DSP_NAME(dsp_peak_i16),
};

#undef VF
#undef VI
#undef VS
#undef DSP_BLOCK
#undef DSP_FN
#undef DSP_INLINE
#undef DSP_NAME
#undef DSP_CAT
#undef DSP_CAT2
