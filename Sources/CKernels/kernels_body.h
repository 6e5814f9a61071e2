// The kernels, written once against a 16-float vector type. Each kernels_<level>.c defines
//   v16 / acc16 (16 floats / 16 double accumulator lanes) and their operations:
//   v_load v_store v_set1 v_add v_sub v_mul v_div v_fma(a,b,c)=a·b+c v_sqrt v_rint (nearest-even)
//   v_min(a,b)=a<b?a:b  v_max(a,b)=a>b?a:b  v_pow2i(n)=2ⁿ for integral n in [−126, 127]
//   acc_zero acc_add(+= (double)a) acc_fma(+= (double)a·(double)b, one rounding)
//   acc_sqdev(+= ((double)x − mu)², one rounding) acc_store acc_load
// plus FG(name) (the level's symbol suffix) and FG_LEVEL, and then includes this file.
//
// Every operation above is exactly rounded IEEE arithmetic, so each lane computes the same bits at every
// level. Ranges whose length is not a multiple of 16 finish with one padded block (the padding is never
// stored and never accumulated). Reductions put element i of a range into lane i mod 16 and combine the
// lanes with `lanes_total`, the same fixed tree everywhere.

#include <math.h>
#include <string.h>

// ---- shared helpers (built on the level's primitives) ----

static inline v16 v_load_fill(const float *p, size_t k, float fill) {
    float b[16];
    for (size_t j = 0; j < 16; j++) b[j] = j < k ? p[j] : fill;
    return v_load(b);
}

static inline void v_store_part(float *p, v16 a, size_t k) {
    float b[16];
    v_store(b, a);
    memcpy(p, b, k * sizeof(float));
}

static inline double lanes_total(const acc16 *a) {
    double l[16];
    acc_store(l, a);
    for (int s = 8; s > 0; s >>= 1)
        for (int j = 0; j < s; j++) l[j] += l[j + s];
    return l[0];
}

// Tail accumulation lane by lane, with the same exactly rounded operations as the vector forms.
static inline void acc_tail_add(acc16 *a, const float *x, size_t k) {
    double l[16];
    acc_store(l, a);
    for (size_t j = 0; j < k; j++) l[j] += (double)x[j];
    acc_load(a, l);
}

static inline void acc_tail_fma(acc16 *a, const float *x, const float *y, size_t k) {
    double l[16];
    acc_store(l, a);
    for (size_t j = 0; j < k; j++) l[j] = fma((double)x[j], (double)y[j], l[j]);
    acc_load(a, l);
}

static inline void acc_tail_sqdev(acc16 *a, const float *x, size_t k, double mu) {
    double l[16];
    acc_store(l, a);
    for (size_t j = 0; j < k; j++) { double d = (double)x[j] - mu; l[j] = fma(d, d, l[j]); }
    acc_load(a, l);
}

/// exp(x): Cephes' expf — x = n·ln2 + r (Cody–Waite, two FMAs), exp(r) ≈ 1 + r + r²·P(r) (degree 5),
/// scaled by 2ⁿ in two exact steps so that results in the subnormal range round once, correctly.
/// Inputs are clamped to [−104, 89] (beyond: 0 and +inf anyway); NaN stays NaN.
static inline v16 v_exp(v16 x) {
    x = v_min(v_set1(89.0f), x);     // the argument order keeps a NaN x (MINPS returns its 2nd operand)
    x = v_max(v_set1(-104.0f), x);
    v16 n = v_rint(v_mul(x, v_set1(1.44269504088896341f)));
    v16 r = v_fma(n, v_set1(-0.693359375f), x);
    r = v_fma(n, v_set1(2.12194440e-4f), r);
    v16 p = v_set1(1.9875691500e-4f);
    p = v_fma(p, r, v_set1(1.3981999507e-3f));
    p = v_fma(p, r, v_set1(8.3334519073e-3f));
    p = v_fma(p, r, v_set1(4.1665795894e-2f));
    p = v_fma(p, r, v_set1(1.6666665459e-1f));
    p = v_fma(p, r, v_set1(5.0000001201e-1f));
    v16 e = v_add(v_fma(p, v_mul(r, r), r), v_set1(1.0f));
    v16 n1 = v_rint(v_mul(n, v_set1(0.5f)));
    v16 n2 = v_sub(n, n1);
    return v_mul(v_mul(e, v_pow2i(n1)), v_pow2i(n2));
}

static inline v16 v_silu(v16 x) {
    v16 one = v_set1(1.0f);
    return v_div(x, v_add(one, v_exp(v_sub(v_set1(0.0f), x))));
}

/// dy·σ(x)·(1 + x·(1 − σ(x))), evaluated left to right.
static inline v16 v_silu_grad(v16 x, v16 dy) {
    v16 one = v_set1(1.0f);
    v16 sg = v_div(one, v_add(one, v_exp(v_sub(v_set1(0.0f), x))));
    return v_mul(v_mul(dy, sg), v_add(one, v_mul(x, v_sub(one, sg))));
}

// ---- kernels ----

static void FG(exp)(const float *x, float *y, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) v_store(y + i, v_exp(v_load(x + i)));
    if (i < n) v_store_part(y + i, v_exp(v_load_fill(x + i, n - i, 0)), n - i);
}

static void FG(silu)(const float *x, float *y, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) v_store(y + i, v_silu(v_load(x + i)));
    if (i < n) v_store_part(y + i, v_silu(v_load_fill(x + i, n - i, 0)), n - i);
}

static void FG(silu_backward)(const float *x, const float *dy, float *dx, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) v_store(dx + i, v_silu_grad(v_load(x + i), v_load(dy + i)));
    if (i < n) {
        size_t k = n - i;
        v_store_part(dx + i, v_silu_grad(v_load_fill(x + i, k, 0), v_load_fill(dy + i, k, 0)), k);
    }
}

static void FG(add_scalar)(const float *x, float *y, size_t n, float b) {
    v16 vb = v_set1(b);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) v_store(y + i, v_add(v_load(x + i), vb));
    if (i < n) v_store_part(y + i, v_add(v_load_fill(x + i, n - i, 0), vb), n - i);
}

static double FG(sum)(const float *x, size_t n) {
    acc16 a;
    acc_zero(&a);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) acc_add(&a, v_load(x + i));
    acc_tail_add(&a, x + i, n - i);
    return lanes_total(&a);
}

static void FG(softmax_rows)(float *p, size_t rows, size_t width) {
    if (width == 0) return;
    for (size_t r = 0; r < rows; r++) {
        float *row = p + r * width;
        size_t i = 0, k;
        v16 vm = v_set1(-INFINITY);
        for (; i + 16 <= width; i += 16) vm = v_max(vm, v_load(row + i));
        if (i < width) vm = v_max(vm, v_load_fill(row + i, width - i, -INFINITY));
        float lanes[16];
        v_store(lanes, vm);
        float mx = lanes[0];
        for (int j = 1; j < 16; j++) if (lanes[j] > mx) mx = lanes[j];
        v16 vmx = v_set1(mx);
        acc16 a;
        acc_zero(&a);
        for (i = 0; i + 16 <= width; i += 16) {
            v16 e = v_exp(v_sub(v_load(row + i), vmx));
            v_store(row + i, e);
            acc_add(&a, e);
        }
        if ((k = width - i) > 0) {
            v_store_part(row + i, v_exp(v_sub(v_load_fill(row + i, k, 0), vmx)), k);
            acc_tail_add(&a, row + i, k);
        }
        v16 inv = v_set1((float)(1.0 / lanes_total(&a)));
        for (i = 0; i + 16 <= width; i += 16) v_store(row + i, v_mul(v_load(row + i), inv));
        if ((k = width - i) > 0) v_store_part(row + i, v_mul(v_load_fill(row + i, k, 0), inv), k);
    }
}

static void FG(softmax_backward_rows)(const float *a, float *s, size_t rows, size_t width) {
    for (size_t r = 0; r < rows; r++) {
        const float *ar = a + r * width;
        float *sr = s + r * width;
        size_t i = 0, k;
        acc16 acc;
        acc_zero(&acc);
        for (; i + 16 <= width; i += 16) acc_fma(&acc, v_load(ar + i), v_load(sr + i));
        acc_tail_fma(&acc, ar + i, sr + i, width - i);
        v16 dot = v_set1((float)lanes_total(&acc));
        for (i = 0; i + 16 <= width; i += 16) v_store(sr + i, v_mul(v_load(ar + i), v_sub(v_load(sr + i), dot)));
        if ((k = width - i) > 0)
            v_store_part(sr + i, v_mul(v_load_fill(ar + i, k, 0), v_sub(v_load_fill(sr + i, k, 0), dot)), k);
    }
}

static void FG(groupnorm_forward)(const float *x, float *y, size_t channels, size_t spatial,
                                  const float *gamma, const float *beta, double eps, int silu,
                                  float *mean, float *rstd) {
    size_t m = channels * spatial, i = 0;
    if (m == 0) { *mean = 0; *rstd = 0; return; }
    acc16 a;
    acc_zero(&a);
    for (; i + 16 <= m; i += 16) acc_add(&a, v_load(x + i));
    acc_tail_add(&a, x + i, m - i);
    double mu = lanes_total(&a) / (double)m;
    acc_zero(&a);
    for (i = 0; i + 16 <= m; i += 16) acc_sqdev(&a, v_load(x + i), mu);
    acc_tail_sqdev(&a, x + i, m - i, mu);
    double r = 1.0 / sqrt(lanes_total(&a) / (double)m + eps);
    float muF = (float)mu, rF = (float)r;
    *mean = muF;
    *rstd = rF;
    for (size_t c = 0; c < channels; c++) {
        float scale = rF * gamma[c], shift = beta[c] - muF * scale;
        v16 vs = v_set1(scale), vt = v_set1(shift);
        const float *xs = x + c * spatial;
        float *ys = y + c * spatial;
        size_t k;
        if (silu) {
            for (i = 0; i + 16 <= spatial; i += 16) v_store(ys + i, v_silu(v_fma(v_load(xs + i), vs, vt)));
            if ((k = spatial - i) > 0) v_store_part(ys + i, v_silu(v_fma(v_load_fill(xs + i, k, 0), vs, vt)), k);
        } else {
            for (i = 0; i + 16 <= spatial; i += 16) v_store(ys + i, v_fma(v_load(xs + i), vs, vt));
            if ((k = spatial - i) > 0) v_store_part(ys + i, v_fma(v_load_fill(xs + i, k, 0), vs, vt), k);
        }
    }
}

static void FG(groupnorm_backward)(const float *x, const float *dy, float *dx, size_t channels, size_t spatial,
                                   const float *gamma, const float *beta, float mean, float rstd, int silu,
                                   double *sum_d, double *sum_dxhat) {
    size_t s = spatial, m = channels * spatial;
    if (m == 0) return;
    v16 vmu = v_set1(mean), vr = v_set1(rstd);
    double a1 = 0, a2 = 0;
    // Pass 1, per channel: d = ∂L/∂a (through the SiLU, recomputed, when fused; kept in dx) and its sums.
    for (size_t c = 0; c < channels; c++) {
        const float *xs = x + c * s, *ds = dy + c * s;
        float *os = dx + c * s;
        float scale = rstd * gamma[c], shift = beta[c] - mean * scale;
        v16 vs = v_set1(scale), vt = v_set1(shift);
        acc16 s1, s2;
        acc_zero(&s1);
        acc_zero(&s2);
        size_t i = 0;
        for (; i + 16 <= s; i += 16) {
            v16 xv = v_load(xs + i), d = v_load(ds + i);
            v16 xh = v_mul(v_sub(xv, vmu), vr);
            if (silu) { d = v_silu_grad(v_fma(xv, vs, vt), d); v_store(os + i, d); }
            acc_add(&s1, d);
            acc_fma(&s2, d, xh);
        }
        if (i < s) {
            size_t k = s - i;
            v16 xv = v_load_fill(xs + i, k, 0), d = v_load_fill(ds + i, k, 0);
            v16 xh = v_mul(v_sub(xv, vmu), vr);
            if (silu) { d = v_silu_grad(v_fma(xv, vs, vt), d); v_store_part(os + i, d, k); }
            float db[16], hb[16];
            v_store(db, d);
            v_store(hb, xh);
            acc_tail_add(&s1, db, k);
            acc_tail_fma(&s2, db, hb, k);
        }
        double d1 = lanes_total(&s1), d2 = lanes_total(&s2);
        sum_d[c] = d1;
        sum_dxhat[c] = d2;
        a1 += (double)gamma[c] * d1;
        a2 += (double)gamma[c] * d2;
    }
    // Pass 2: dx = rstd·(γ·d − mean(γ·d) − x̂·mean(γ·d·x̂)).
    v16 m1 = v_set1((float)(a1 / (double)m)), m2 = v_set1((float)(a2 / (double)m));
    for (size_t c = 0; c < channels; c++) {
        const float *xs = x + c * s, *ds = (silu ? dx : dy) + c * s;
        float *os = dx + c * s;
        v16 vg = v_set1(gamma[c]);
        size_t i = 0;
        for (; i + 16 <= s; i += 16) {
            v16 xh = v_mul(v_sub(v_load(xs + i), vmu), vr);
            v16 t = v_sub(v_sub(v_mul(vg, v_load(ds + i)), m1), v_mul(xh, m2));
            v_store(os + i, v_mul(vr, t));
        }
        if (i < s) {
            size_t k = s - i;
            v16 xh = v_mul(v_sub(v_load_fill(xs + i, k, 0), vmu), vr);
            v16 t = v_sub(v_sub(v_mul(vg, v_load_fill(ds + i, k, 0)), m1), v_mul(xh, m2));
            v_store_part(os + i, v_mul(vr, t), k);
        }
    }
}

/// One Adam update of 16 lanes (PyTorch's operation order; see fg_kernel_table.adam).
static inline void adam_lanes(v16 *x, v16 *m, v16 *v, v16 g, v16 w1, v16 b2, v16 w2, v16 ibc, v16 eps,
                              v16 nstep, float l2, float shrink) {
    if (l2 != 0) g = v_add(g, v_mul(v_set1(l2), *x));
    if (shrink != 1) *x = v_mul(*x, v_set1(shrink));
    *m = v_add(*m, v_mul(w1, v_sub(g, *m)));                  // torch.lerp with weight < 0.5
    *v = v_add(v_mul(*v, b2), v_mul(v_mul(w2, g), g));        // mul_(β₂).addcmul_(g, g, 1−β₂)
    v16 denom = v_add(v_div(v_sqrt(*v), ibc), eps);
    *x = v_add(*x, v_mul(nstep, v_div(*m, denom)));           // addcdiv_
}

static void FG(adam)(float *x, float *m, float *v, const float *g, size_t n, float w1, float b2, float w2,
                     float inv_bc2_sqrt, float eps, float step_size, float l2, float shrink) {
    v16 vw1 = v_set1(w1), vb2 = v_set1(b2), vw2 = v_set1(w2), ibc = v_set1(inv_bc2_sqrt);
    v16 veps = v_set1(eps), nstep = v_set1(-step_size);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        v16 xv = v_load(x + i), mv = v_load(m + i), vv = v_load(v + i);
        adam_lanes(&xv, &mv, &vv, v_load(g + i), vw1, vb2, vw2, ibc, veps, nstep, l2, shrink);
        v_store(x + i, xv);
        v_store(m + i, mv);
        v_store(v + i, vv);
    }
    if (i < n) {
        size_t k = n - i;
        v16 xv = v_load_fill(x + i, k, 0), mv = v_load_fill(m + i, k, 0), vv = v_load_fill(v + i, k, 0);
        adam_lanes(&xv, &mv, &vv, v_load_fill(g + i, k, 0), vw1, vb2, vw2, ibc, veps, nstep, l2, shrink);
        v_store_part(x + i, xv, k);
        v_store_part(m + i, mv, k);
        v_store_part(v + i, vv, k);
    }
}

const fg_kernel_table FG(table) = {
    FG_LEVEL,
    FG(exp), FG(silu), FG(silu_backward), FG(add_scalar), FG(sum), FG(softmax_rows), FG(softmax_backward_rows),
    FG(groupnorm_forward), FG(groupnorm_backward), FG(adam),
};
