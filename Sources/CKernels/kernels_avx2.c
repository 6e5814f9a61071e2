// The AVX2 + FMA level: a v16 is two 256-bit registers; the 16 double lanes are four.
#include "kernels_internal.h"
#ifdef FG_HAVE_X86_LEVELS
#include <immintrin.h>
#include <math.h>
#include <string.h>

#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)

typedef struct { __m256 lo, hi; } v16;
typedef struct { __m256d d[4]; } acc16;

#define BOTH(op) { op(a.lo, b.lo), op(a.hi, b.hi) }
static inline v16 v_load(const float *p) { return (v16){ _mm256_loadu_ps(p), _mm256_loadu_ps(p + 8) }; }
static inline void v_store(float *p, v16 a) { _mm256_storeu_ps(p, a.lo); _mm256_storeu_ps(p + 8, a.hi); }
static inline v16 v_set1(float a) { return (v16){ _mm256_set1_ps(a), _mm256_set1_ps(a) }; }
static inline v16 v_add(v16 a, v16 b) { return (v16)BOTH(_mm256_add_ps); }
static inline v16 v_sub(v16 a, v16 b) { return (v16)BOTH(_mm256_sub_ps); }
static inline v16 v_mul(v16 a, v16 b) { return (v16)BOTH(_mm256_mul_ps); }
static inline v16 v_div(v16 a, v16 b) { return (v16)BOTH(_mm256_div_ps); }
static inline v16 v_min(v16 a, v16 b) { return (v16)BOTH(_mm256_min_ps); }
static inline v16 v_max(v16 a, v16 b) { return (v16)BOTH(_mm256_max_ps); }
static inline v16 v_fma(v16 a, v16 b, v16 c) {
    return (v16){ _mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi) };
}
static inline v16 v_sqrt(v16 a) { return (v16){ _mm256_sqrt_ps(a.lo), _mm256_sqrt_ps(a.hi) }; }
#define RINT(a) _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
static inline v16 v_rint(v16 a) { return (v16){ RINT(a.lo), RINT(a.hi) }; }
static inline __m256 pow2i8(__m256 n) {
    __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
}
static inline v16 v_pow2i(v16 n) { return (v16){ pow2i8(n.lo), pow2i8(n.hi) }; }

// Lanes 0–3, 4–7, 8–11, 12–15 of a v16 as doubles (exact conversions).
#define WIDEN(v, q) _mm256_cvtps_pd((q) & 1 ? _mm256_extractf128_ps((q) < 2 ? (v).lo : (v).hi, 1) \
                                            : _mm256_castps256_ps128((q) < 2 ? (v).lo : (v).hi))
static inline void acc_zero(acc16 *a) { for (int q = 0; q < 4; q++) a->d[q] = _mm256_setzero_pd(); }
static inline void acc_add(acc16 *a, v16 x) {
    a->d[0] = _mm256_add_pd(a->d[0], WIDEN(x, 0));
    a->d[1] = _mm256_add_pd(a->d[1], WIDEN(x, 1));
    a->d[2] = _mm256_add_pd(a->d[2], WIDEN(x, 2));
    a->d[3] = _mm256_add_pd(a->d[3], WIDEN(x, 3));
}
static inline void acc_fma(acc16 *a, v16 x, v16 y) {
    a->d[0] = _mm256_fmadd_pd(WIDEN(x, 0), WIDEN(y, 0), a->d[0]);
    a->d[1] = _mm256_fmadd_pd(WIDEN(x, 1), WIDEN(y, 1), a->d[1]);
    a->d[2] = _mm256_fmadd_pd(WIDEN(x, 2), WIDEN(y, 2), a->d[2]);
    a->d[3] = _mm256_fmadd_pd(WIDEN(x, 3), WIDEN(y, 3), a->d[3]);
}
static inline void acc_sqdev(acc16 *a, v16 x, double mu) {
    __m256d m = _mm256_set1_pd(mu), d;
    d = _mm256_sub_pd(WIDEN(x, 0), m); a->d[0] = _mm256_fmadd_pd(d, d, a->d[0]);
    d = _mm256_sub_pd(WIDEN(x, 1), m); a->d[1] = _mm256_fmadd_pd(d, d, a->d[1]);
    d = _mm256_sub_pd(WIDEN(x, 2), m); a->d[2] = _mm256_fmadd_pd(d, d, a->d[2]);
    d = _mm256_sub_pd(WIDEN(x, 3), m); a->d[3] = _mm256_fmadd_pd(d, d, a->d[3]);
}
static inline void acc_store(double *l, const acc16 *a) { for (int q = 0; q < 4; q++) _mm256_storeu_pd(l + 4 * q, a->d[q]); }
static inline void acc_load(acc16 *a, const double *l) { for (int q = 0; q < 4; q++) a->d[q] = _mm256_loadu_pd(l + 4 * q); }

#define FG(name) fg_##name##_avx2
#define FG_LEVEL FG_LEVEL_AVX2
#include "kernels_body.h"

#pragma clang attribute pop
#endif
