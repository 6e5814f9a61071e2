// The AVX-512F level: a v16 is one 512-bit register; the 16 double lanes are two.
#include "kernels_internal.h"
#ifdef FG_HAVE_X86_LEVELS
#include <immintrin.h>
#include <math.h>
#include <string.h>

#pragma clang attribute push(__attribute__((target("avx512f"))), apply_to = function)

typedef __m512 v16;
typedef struct { __m512d d[2]; } acc16;

static inline v16 v_load(const float *p) { return _mm512_loadu_ps(p); }
static inline void v_store(float *p, v16 a) { _mm512_storeu_ps(p, a); }
static inline v16 v_set1(float a) { return _mm512_set1_ps(a); }
static inline v16 v_add(v16 a, v16 b) { return _mm512_add_ps(a, b); }
static inline v16 v_sub(v16 a, v16 b) { return _mm512_sub_ps(a, b); }
static inline v16 v_mul(v16 a, v16 b) { return _mm512_mul_ps(a, b); }
static inline v16 v_div(v16 a, v16 b) { return _mm512_div_ps(a, b); }
static inline v16 v_min(v16 a, v16 b) { return _mm512_min_ps(a, b); }
static inline v16 v_max(v16 a, v16 b) { return _mm512_max_ps(a, b); }
static inline v16 v_fma(v16 a, v16 b, v16 c) { return _mm512_fmadd_ps(a, b, c); }
static inline v16 v_sqrt(v16 a) { return _mm512_sqrt_ps(a); }
static inline v16 v_rint(v16 a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
static inline v16 v_pow2i(v16 n) {
    __m512i e = _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127));
    return _mm512_castsi512_ps(_mm512_slli_epi32(e, 23));
}

// Lanes 0–7 and 8–15 as doubles (exact conversions).
static inline __m512d widen_lo(v16 x) { return _mm512_cvtps_pd(_mm512_castps512_ps256(x)); }
static inline __m512d widen_hi(v16 x) {
    return _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1)));
}
static inline void acc_zero(acc16 *a) { a->d[0] = a->d[1] = _mm512_setzero_pd(); }
static inline void acc_add(acc16 *a, v16 x) {
    a->d[0] = _mm512_add_pd(a->d[0], widen_lo(x));
    a->d[1] = _mm512_add_pd(a->d[1], widen_hi(x));
}
static inline void acc_fma(acc16 *a, v16 x, v16 y) {
    a->d[0] = _mm512_fmadd_pd(widen_lo(x), widen_lo(y), a->d[0]);
    a->d[1] = _mm512_fmadd_pd(widen_hi(x), widen_hi(y), a->d[1]);
}
static inline void acc_sqdev(acc16 *a, v16 x, double mu) {
    __m512d m = _mm512_set1_pd(mu);
    __m512d d0 = _mm512_sub_pd(widen_lo(x), m), d1 = _mm512_sub_pd(widen_hi(x), m);
    a->d[0] = _mm512_fmadd_pd(d0, d0, a->d[0]);
    a->d[1] = _mm512_fmadd_pd(d1, d1, a->d[1]);
}
static inline void acc_store(double *l, const acc16 *a) { _mm512_storeu_pd(l, a->d[0]); _mm512_storeu_pd(l + 8, a->d[1]); }
static inline void acc_load(acc16 *a, const double *l) { a->d[0] = _mm512_loadu_pd(l); a->d[1] = _mm512_loadu_pd(l + 8); }

#define FG(name) fg_##name##_avx512
#define FG_LEVEL FG_LEVEL_AVX512
#include "kernels_body.h"

#pragma clang attribute pop
#endif
