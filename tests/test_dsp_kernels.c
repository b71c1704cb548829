/* The C kernels of every ISA level this CPU runs, against scalar references and known
 * values, without Python: built and run by tests/test_dsp_cross.py natively and, for
 * aarch64, cross-compiled and run under qemu-user. Prints one "ok <level>" line per level;
 * exits 1 naming the first mismatch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "_kernels.h"

#define SLACK 80
static int failures;

static void fail(const char *level, const char *what, long i, double got, double want) {
    if (failures++ < 10)
        fprintf(stderr, "FAIL %s %s[%ld]: got %.9g, want %.9g\n", level, what, i, got, want);
}

static unsigned long rng_state = 12345;
static float frand(void) { /* uniform in [-1, 1) */
    rng_state = rng_state * 6364136223846793005UL + 1442695040888963407UL;
    return (float)((rng_state >> 40) / (double)(1UL << 24) * 2.0 - 1.0);
}

static void close_to(const char *level, const char *what, long i, float got, double want,
                     double scale) {
    if (!(fabs(got - want) <= 2e-6 * scale + 1e-30)) fail(level, what, i, got, want);
}

static void check_poly_up(const DspKernels *k) {
    enum { UP = 3, K_PAD = 32, FIRST = 5, N_NEW = 203, POS0 = 2, OSTRIDE = N_NEW + SLACK };
    float *buf = calloc(K_PAD + N_NEW + SLACK, sizeof(float));
    float *bank = malloc(UP * K_PAD * sizeof(float));
    float *out = calloc(UP * OSTRIDE, sizeof(float));
    for (int i = 0; i < K_PAD + N_NEW; i++) buf[i] = frand() * 1000;
    for (int i = 0; i < UP * K_PAD; i++) bank[i] = frand();
    long n = k->poly_up(buf, POS0, N_NEW, bank, K_PAD, FIRST, UP, out, OSTRIDE);
    if (n != (N_NEW - POS0) * UP) fail(k->name, "poly_up count", 0, n, (N_NEW - POS0) * UP);
    for (int p = 0; p < UP; p++)
        for (long i = POS0; i < N_NEW; i++) {
            double want = 0, scale = 0;
            for (int t = FIRST; t < K_PAD; t++) {
                want += (double)bank[p * K_PAD + t] * buf[i + t];
                scale += fabs((double)bank[p * K_PAD + t] * buf[i + t]);
            }
            close_to(k->name, "poly_up", p * OSTRIDE + i - POS0, out[p * OSTRIDE + i - POS0],
                     want, scale);
        }
    free(buf), free(bank), free(out);
}

static void check_poly_down(const DspKernels *k) {
    enum { DOWN = 3, N_TAPS = 37, K1 = 150, STRIDE = 260 };
    float *d = calloc(DOWN * STRIDE + SLACK, sizeof(float));
    float *out = calloc(K1 + SLACK, sizeof(float));
    float taps[N_TAPS];
    long offs[N_TAPS];
    for (int i = 0; i < DOWN * STRIDE; i++) d[i] = frand() * 1000;
    for (int t = 0; t < N_TAPS; t++) {
        taps[t] = frand();
        offs[t] = (t % DOWN) * STRIDE - t / DOWN + 20;
    }
    k->poly_down(d, 0, K1, taps, offs, N_TAPS, out);
    for (long j = 0; j < K1; j++) {
        double want = 0, scale = 0;
        for (int t = 0; t < N_TAPS; t++) {
            want += (double)taps[t] * d[offs[t] + j];
            scale += fabs((double)taps[t] * d[offs[t] + j]);
        }
        close_to(k->name, "poly_down", j, out[j], want, scale);
    }
    free(d), free(out);
}

static void check_poly_dot(const DspKernels *k) {
    enum { UP = 2, DOWN = 3, K_PAD = 48, N_NEW = 301 };
    float *buf = calloc(K_PAD + N_NEW + SLACK, sizeof(float));
    float *bank = malloc(UP * K_PAD * sizeof(float));
    float *out = calloc(N_NEW, sizeof(float));
    for (int i = 0; i < K_PAD + N_NEW; i++) buf[i] = frand() * 1000;
    for (int i = 0; i < UP * K_PAD; i++) bank[i] = frand();
    int phase = 1;
    long pos = 0;
    long n = k->poly_dot(buf, N_NEW, bank, K_PAD, UP, DOWN, &phase, &pos, out);
    int ph = 1;
    long ps = 0, j = 0;
    for (; ps < N_NEW; j++) {
        double want = 0, scale = 0;
        for (int t = 0; t < K_PAD; t++) {
            want += (double)bank[ph * K_PAD + t] * buf[ps + t];
            scale += fabs((double)bank[ph * K_PAD + t] * buf[ps + t]);
        }
        close_to(k->name, "poly_dot", j, out[j], want, scale);
        ph += DOWN;
        ps += ph / UP;
        ph %= UP;
    }
    if (n != j || phase != ph || pos != ps) fail(k->name, "poly_dot state", n, pos, ps);
    free(buf), free(bank), free(out);
}

static void check_moves(const DspKernels *k) {
    enum { N = 37 };
    float src[3 * N + 3], dst[N], y0[2 * (N + 5)], y1[2 * (N + 5)], il[4 * N];
    for (int i = 0; i < 3 * N + 3; i++) src[i] = (float)i;
    for (int step = 1; step <= 3; step++) {
        k->gather(src + 1, N, step, dst);
        for (long j = 0; j < N; j++)
            if (dst[j] != src[1 + j * step]) fail(k->name, "gather", j, dst[j], src[1 + j * step]);
    }
    for (int i = 0; i < 2 * (N + 5); i++) y0[i] = (float)i, y1[i] = -(float)i;
    for (int up = 1; up <= 2; up++)
        for (int ch = 1; ch <= 2; ch++) {
            k->interleave(y0, y1, N + 5, up, N, ch, il);
            for (long i = 0; i < N; i++)
                for (int p = 0; p < up; p++)
                    for (int c = 0; c < ch; c++) {
                        float want = (c ? y1 : y0)[p * (N + 5) + i];
                        float got = il[(i * up + p) * ch + c];
                        if (got != want) fail(k->name, "interleave", i, got, want);
                    }
        }
}

static void check_conversions(const DspKernels *k) {
    static const float in[] = {0.5f,     1.5f,      2.5f,    -0.5f,    -1.5f,    32766.5f,
                               32767.4f, 40000.0f,  1e30f,   -32768.6f, -40000.f, -1e30f,
                               NAN,      -NAN,      INFINITY, -INFINITY, 123.49f, -123.51f,
                               7.0f,     -32768.0f, 0.0f};
    static const int16_t want[] = {0,     2,      2,      0,      -2,   32766, 32767,
                                   32767, 32767,  -32768, -32768, -32768, 0,  0,
                                   32767, -32768, 123,    -124,   7,    -32768, 0};
    enum { N = sizeof in / sizeof in[0] };
    int16_t out[N];
    k->f32_to_i16(in, N, out);
    for (long i = 0; i < N; i++)
        if (out[i] != want[i]) fail(k->name, "f32_to_i16", i, out[i], want[i]);

    int16_t s16[2 * N];
    float s32[2 * N], a[N], b[N];
    for (int i = 0; i < 2 * N; i++) s16[i] = (int16_t)(i * 2521 - 32768), s32[i] = s16[i];
    for (int mode = 0; mode < 3; mode++) {
        int ch = mode ? 2 : 1, mix = mode == 1;
        for (int kind = 0; kind < 2; kind++) {
            if (kind) k->f32_to_f32(s32, N, ch, mix, a, b);
            else k->i16_to_f32(s16, N, ch, mix, a, b);
            for (long i = 0; i < N; i++) {
                float w0 = ch == 1 ? s32[i] : mix ? (s32[2 * i] + s32[2 * i + 1]) * 0.5f
                                                  : s32[2 * i];
                if (a[i] != w0) fail(k->name, kind ? "f32_to_f32" : "i16_to_f32", i, a[i], w0);
                if (mode == 2 && b[i] != s32[2 * i + 1])
                    fail(k->name, "split", i, b[i], s32[2 * i + 1]);
            }
        }
    }
}

static int16_t soft_clip_ref(int32_t s) {
    if (s >= -24576 && s <= 24576) return (int16_t)s;
    float a = (float)(s > 0 ? s : -s);
    float u = (a - 24576.0f) / 8191.0f;
    int32_t m = (int32_t)(32767.0f - 8191.0f / (1.0f + u) + 0.5f);
    return (int16_t)(s > 0 ? m : -m);
}

static void check_mix_peak(const DspKernels *k) {
    enum { N = 1301 };
    static int16_t x[3][N], out[N];
    for (int i = 0; i < N; i++) {
        int32_t s = (int32_t)((long)i * 3 * 65535 / (N - 1)) - 3 * 32768;
        x[0][i] = x[1][i] = (int16_t)(s / 3);
        x[2][i] = (int16_t)(s - 2 * (s / 3));
    }
    const int16_t *srcs[3] = {x[0], x[1], x[2]};
    k->mix_i16(srcs, 3, out, N);
    int16_t prev = -32768;
    for (long i = 0; i < N; i++) {
        int32_t s = x[0][i] + x[1][i] + x[2][i];
        if (out[i] != soft_clip_ref(s)) fail(k->name, "mix_i16", i, out[i], soft_clip_ref(s));
        if (out[i] < prev) fail(k->name, "mix_i16 monotone", i, out[i], prev);
        prev = out[i];
    }
    /* a quiet block (narrowed without the clip) before one that needs it */
    static int16_t q[1100], qout[1100];
    for (int i = 0; i < 1100; i++)
        q[i] = i < 600 ? (int16_t)(i * 40 - 12000) : (int16_t)(i % 2 ? 30000 : -30000);
    const int16_t *qs[2] = {q, q};
    k->mix_i16(qs, 2, qout, 1100);
    for (long i = 0; i < 1100; i++)
        if (qout[i] != soft_clip_ref(2 * q[i]))
            fail(k->name, "mix_i16 quiet then loud", i, qout[i], soft_clip_ref(2 * q[i]));
    k->mix_i16(srcs, 0, out, N);
    for (long i = 0; i < N; i++)
        if (out[i]) fail(k->name, "mix_i16 of nothing", i, out[i], 0);
    for (long n = 0; n < 40; n++) {
        int16_t v[40] = {0};
        if (n) v[n - 1] = n % 2 ? -32768 : 32767;
        int32_t want = n ? (n % 2 ? 32768 : 32767) : 0;
        if (k->peak_i16(v, n) != want) fail(k->name, "peak_i16", n, k->peak_i16(v, n), want);
    }
}

int main(void) {
    int ran = 0;
    for (int i = 0; i < dsp_n_levels; i++) {
        if (!dsp_cpu_has(i)) {
            printf("skip %s (not on this CPU)\n", dsp_levels[i]->name);
            continue;
        }
        const DspKernels *k = dsp_levels[i];
        int before = failures;
        check_poly_up(k);
        check_poly_down(k);
        check_poly_dot(k);
        check_moves(k);
        check_conversions(k);
        check_mix_peak(k);
        if (failures == before) printf("ok %s\n", k->name);
        ran++;
    }
    if (!ran) fprintf(stderr, "FAIL no level runs on this CPU\n");
    return failures || !ran;
}
