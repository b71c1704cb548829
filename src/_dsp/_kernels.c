/* Every kernel compiled once per ISA level; see _kernels.h and _kernels_level.h. */
#include <string.h>

#include "_kernels.h"

#define DSP_STR2(x) #x
#define DSP_STR(x) DSP_STR2(x)

#if defined(__GNUC__) && !defined(__clang__)
/* Vector-typed helpers are always inlined within one level, so the psABI note about
 * passing wide vectors between differently compiled functions does not apply. */
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

#if defined(__x86_64__) && defined(__GNUC__)

#include <emmintrin.h>

#define DSP_SFX sse2
#define DSP_TGT
#define DSP_W 4
#define DSP_NACC 8
#include "_kernels_level.h"
#undef DSP_SFX
#undef DSP_TGT
#undef DSP_W
#undef DSP_NACC

#define DSP_SFX avx2
#define DSP_TGT __attribute__((target("avx2,fma")))
#define DSP_W 8
#define DSP_NACC 8
#include "_kernels_level.h"
#undef DSP_SFX
#undef DSP_TGT
#undef DSP_W
#undef DSP_NACC

#define DSP_SFX avx512
#define DSP_TGT __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")))
#define DSP_W 16
#define DSP_NACC 4
#include "_kernels_level.h"

const DspKernels *const dsp_levels[] = {&dsp_kernels_sse2, &dsp_kernels_avx2,
                                        &dsp_kernels_avx512};
const int dsp_n_levels = 3;

int dsp_cpu_has(int i) {
    /* libgcc's and compiler-rt's checks include the OS's register-state support (XCR0). */
    __builtin_cpu_init();
    switch (i) {
    case 0: return 1;  /* SSE2 is part of x86-64 */
    case 1: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case 2:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    default: return 0;
    }
}

#else

#if defined(__aarch64__)
#define DSP_SFX neon  /* Advanced SIMD is part of AArch64: 4 float lanes */
#else
#define DSP_SFX generic
#endif
#define DSP_TGT
#define DSP_W 4
#define DSP_NACC 8
#include "_kernels_level.h"

#if defined(__aarch64__)
const DspKernels *const dsp_levels[] = {&dsp_kernels_neon};
#else
const DspKernels *const dsp_levels[] = {&dsp_kernels_generic};
#endif
const int dsp_n_levels = 1;

int dsp_cpu_has(int i) { return i == 0; }

#endif
