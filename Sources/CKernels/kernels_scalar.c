// The portable level: a "vector" of 16 floats processed lane by lane with the same IEEE operations as the
// SIMD levels (fmaf for v_fma, rintf for v_rint), so its results are bit-identical to theirs.
#include "kernels_internal.h"
#include <math.h>
#include <stdint.h>
#include <string.h>

typedef struct { float f[16]; } v16;
typedef struct { double d[16]; } acc16;

#define LANES for (int j = 0; j < 16; j++)

static inline v16 v_load(const float *p) { v16 r; memcpy(r.f, p, sizeof r.f); return r; }
static inline void v_store(float *p, v16 a) { memcpy(p, a.f, sizeof a.f); }
static inline v16 v_set1(float a) { v16 r; LANES r.f[j] = a; return r; }
static inline v16 v_add(v16 a, v16 b) { LANES a.f[j] = a.f[j] + b.f[j]; return a; }
static inline v16 v_sub(v16 a, v16 b) { LANES a.f[j] = a.f[j] - b.f[j]; return a; }
static inline v16 v_mul(v16 a, v16 b) { LANES a.f[j] = a.f[j] * b.f[j]; return a; }
static inline v16 v_div(v16 a, v16 b) { LANES a.f[j] = a.f[j] / b.f[j]; return a; }
static inline v16 v_fma(v16 a, v16 b, v16 c) { LANES a.f[j] = fmaf(a.f[j], b.f[j], c.f[j]); return a; }
static inline v16 v_sqrt(v16 a) { LANES a.f[j] = sqrtf(a.f[j]); return a; }
static inline v16 v_rint(v16 a) { LANES a.f[j] = rintf(a.f[j]); return a; }
static inline v16 v_min(v16 a, v16 b) { LANES a.f[j] = a.f[j] < b.f[j] ? a.f[j] : b.f[j]; return a; }
static inline v16 v_max(v16 a, v16 b) { LANES a.f[j] = a.f[j] > b.f[j] ? a.f[j] : b.f[j]; return a; }
static inline v16 v_pow2i(v16 n) {
    LANES {
        // A NaN lane (from a NaN input) stays NaN through the product whatever this factor is.
        int32_t e = n.f[j] == n.f[j] ? (int32_t)n.f[j] : 0;
        uint32_t bits = (uint32_t)(e + 127) << 23;
        memcpy(&n.f[j], &bits, sizeof bits);
    }
    return n;
}

static inline void acc_zero(acc16 *a) { LANES a->d[j] = 0; }
static inline void acc_add(acc16 *a, v16 x) { LANES a->d[j] += (double)x.f[j]; }
static inline void acc_fma(acc16 *a, v16 x, v16 y) { LANES a->d[j] = fma((double)x.f[j], (double)y.f[j], a->d[j]); }
static inline void acc_sqdev(acc16 *a, v16 x, double mu) {
    LANES { double d = (double)x.f[j] - mu; a->d[j] = fma(d, d, a->d[j]); }
}
static inline void acc_store(double *l, const acc16 *a) { memcpy(l, a->d, sizeof a->d); }
static inline void acc_load(acc16 *a, const double *l) { memcpy(a->d, l, sizeof a->d); }

#define FG(name) fg_##name##_scalar
#define FG_LEVEL FG_LEVEL_SCALAR
#include "kernels_body.h"
