// Run-time dispatch: the best level is detected once (CPUID + XGETBV) and the free functions call it.
#include "kernels_internal.h"
#include <stdatomic.h>
#ifdef FG_HAVE_X86_LEVELS
#include <cpuid.h>
#include <stdint.h>
#endif

#ifdef FG_HAVE_X86_LEVELS
static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

// The instructions must exist and the OS must save the registers they use (XCR0: SSE+AVX state = 0x6,
// plus opmask/ZMM state = 0xE0 for AVX-512).
static int detect_level(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return FG_LEVEL_SCALAR;
    int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
    if (!osxsave || !avx) return FG_LEVEL_SCALAR;
    uint64_t xcr0 = xgetbv0();
    if ((xcr0 & 0x6) != 0x6) return FG_LEVEL_SCALAR;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return FG_LEVEL_SCALAR;
    int avx2 = (b >> 5) & 1, avx512f = (b >> 16) & 1;
    if (avx512f && (xcr0 & 0xE6) == 0xE6) return FG_LEVEL_AVX512;
    if (avx2 && fma) return FG_LEVEL_AVX2;
    return FG_LEVEL_SCALAR;
}
#else
static int detect_level(void) { return FG_LEVEL_SCALAR; }
#endif

int fg_kernels_best_level(void) {
    static atomic_int best = -1;
    int level = atomic_load_explicit(&best, memory_order_relaxed);
    if (level < 0) {
        level = detect_level();
        atomic_store_explicit(&best, level, memory_order_relaxed);
    }
    return level;
}

const fg_kernel_table *fg_kernels_table(int level) {
    if (level < FG_LEVEL_SCALAR || level > fg_kernels_best_level()) return NULL;
    switch (level) {
#ifdef FG_HAVE_X86_LEVELS
    case FG_LEVEL_AVX512: return &fg_table_avx512;
    case FG_LEVEL_AVX2: return &fg_table_avx2;
#endif
    default: return &fg_table_scalar;
    }
}

static _Atomic(const fg_kernel_table *) active_table;

static inline const fg_kernel_table *active(void) {
    const fg_kernel_table *t = atomic_load_explicit(&active_table, memory_order_relaxed);
    if (!t) {
        // Racing first calls all store the same table.
        t = fg_kernels_table(fg_kernels_best_level());
        atomic_store_explicit(&active_table, t, memory_order_relaxed);
    }
    return t;
}

int fg_kernels_level(void) { return active()->level; }

int fg_kernels_select(int level) {
    const fg_kernel_table *t = fg_kernels_table(level);
    if (!t) return -1;
    atomic_store_explicit(&active_table, t, memory_order_relaxed);
    return 0;
}

void fg_silu(const float *x, float *y, size_t n) { active()->silu(x, y, n); }
void fg_silu_backward(const float *x, const float *dy, float *dx, size_t n) { active()->silu_backward(x, dy, dx, n); }
void fg_add_scalar(const float *x, float *y, size_t n, float b) { active()->add_scalar(x, y, n, b); }
double fg_sum(const float *x, size_t n) { return active()->sum(x, n); }
void fg_softmax_rows(float *p, size_t rows, size_t width) { active()->softmax_rows(p, rows, width); }
void fg_softmax_backward_rows(const float *a, float *s, size_t rows, size_t width) {
    active()->softmax_backward_rows(a, s, rows, width);
}
void fg_groupnorm_forward(const float *x, float *y, size_t channels, size_t spatial, const float *gamma,
                          const float *beta, double eps, int silu, float *mean, float *rstd) {
    active()->groupnorm_forward(x, y, channels, spatial, gamma, beta, eps, silu, mean, rstd);
}
void fg_groupnorm_backward(const float *x, const float *dy, float *dx, size_t channels, size_t spatial,
                           const float *gamma, const float *beta, float mean, float rstd, int silu,
                           double *sum_d, double *sum_dxhat) {
    active()->groupnorm_backward(x, dy, dx, channels, spatial, gamma, beta, mean, rstd, silu, sum_d, sum_dxhat);
}
void fg_adam(float *x, float *m, float *v, const float *g, size_t n, float w1, float b2, float w2,
             float inv_bc2_sqrt, float eps, float step_size, float l2, float shrink) {
    active()->adam(x, m, v, g, n, w1, b2, w2, inv_bc2_sqrt, eps, step_size, l2, shrink);
}
