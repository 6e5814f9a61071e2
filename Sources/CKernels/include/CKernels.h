// fairgen's vectorised element-wise kernels (SiLU, softmax, GroupNorm(+SiLU), bias add / sum, Adam).
//
// Every kernel processes one contiguous range on the calling thread; threading stays in Swift
// (`Parallel.forEach` over channels, groups or rows), so results never depend on the thread count.
// Three implementations exist — AVX-512F, AVX2+FMA and portable C — and the best one the CPU (and OS)
// supports is chosen once, at the first call. All three give bit-identical results: every element goes
// through the same IEEE operations in the same order (FMA where the C says fmaf), exp is the same
// polynomial everywhere, and every reduction uses 16 double-precision lanes (element i of a range goes
// to lane i mod 16) combined by the same fixed tree. See docs/performance.md, "Element-wise kernels".
#ifndef FAIRGEN_CKERNELS_H
#define FAIRGEN_CKERNELS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Implementation levels, best last.
enum { FG_LEVEL_SCALAR = 0, FG_LEVEL_AVX2 = 1, FG_LEVEL_AVX512 = 2 };

/// One implementation of every kernel. The free functions below call the active table; tests call a
/// table obtained from `fg_kernels_table` to run one implementation explicitly.
typedef struct fg_kernel_table {
    int level;
    /// y[i] = exp(x[i]) (the polynomial the other kernels use; exported for its accuracy test).
    void (*exp)(const float *x, float *y, size_t n);
    /// y[i] = x[i]·σ(x[i]) = x[i] / (1 + exp(−x[i])); y may equal x.
    void (*silu)(const float *x, float *y, size_t n);
    /// dx[i] = dy[i]·σ(x[i])·(1 + x[i]·(1 − σ(x[i]))); dx may equal dy.
    void (*silu_backward)(const float *x, const float *dy, float *dx, size_t n);
    /// y[i] = x[i] + b; y may equal x.
    void (*add_scalar)(const float *x, float *y, size_t n, float b);
    /// Σ x[i] in double (16 lanes, fixed combining order).
    double (*sum)(const float *x, size_t n);
    /// In place, each of `rows` rows of `width` values: p ← exp(p − max) / Σ exp(p − max).
    void (*softmax_rows)(float *p, size_t rows, size_t width);
    /// In place, row by row: s ← a ⊙ (s − Σ_j a_j·s_j) (softmax backward: a = softmax output, s = ∂L/∂a
    /// on entry and ∂L/∂logits on exit).
    void (*softmax_backward_rows)(const float *a, float *s, size_t rows, size_t width);
    /// One (sample, group) of GroupNorm: x, y are `channels` × `spatial` contiguous values, gamma/beta
    /// point at the group's first channel. Writes mean and 1/√(var + eps) (biased variance, in double,
    /// rounded to float) and y = x·(rstd·γ) + (β − mean·rstd·γ) (one FMA), followed by SiLU when `silu`.
    void (*groupnorm_forward)(const float *x, float *y, size_t channels, size_t spatial,
                              const float *gamma, const float *beta, double eps, int silu,
                              float *mean, float *rstd);
    /// Backward of the same group: dy is ∂L/∂y; with `silu` the SiLU input is recomputed from x exactly as
    /// the forward computed it. Writes dx (dx may not alias x or dy) and, per channel, sum_d = Σ ∂L/∂a and
    /// sum_dxhat = Σ ∂L/∂a·x̂ (a = the GroupNorm output, x̂ = (x − mean)·rstd) — the β and γ gradients.
    void (*groupnorm_backward)(const float *x, const float *dy, float *dx, size_t channels, size_t spatial,
                               const float *gamma, const float *beta, float mean, float rstd, int silu,
                               double *sum_d, double *sum_dxhat);
    /// One Adam/AdamW update of n values, PyTorch's single-tensor order of Float32 operations:
    /// g' = g + l2·x (if l2 ≠ 0); x ← x·shrink (if shrink ≠ 1); m ← m + w1·(g' − m);
    /// v ← v·b2 + (w2·g')·g'; x ← x + (−step_size)·(m / (√v / inv_bc2_sqrt + eps)).
    void (*adam)(float *x, float *m, float *v, const float *g, size_t n, float w1, float b2, float w2,
                 float inv_bc2_sqrt, float eps, float step_size, float l2, float shrink);
} fg_kernel_table;

/// The best level this CPU and OS support (AVX-512 needs AVX512F and OS-enabled ZMM state; AVX2 needs
/// AVX2, FMA and OS-enabled YMM state).
int fg_kernels_best_level(void);
/// The implementation at `level`, or NULL when this CPU cannot run it (or it is not compiled in).
const fg_kernel_table *fg_kernels_table(int level);
/// The level the free functions use.
int fg_kernels_level(void);
/// Makes `level` the active one for the whole process; returns 0, or −1 (nothing changed) when the CPU
/// cannot run it. Results are bit-identical at every level, so this only changes speed.
int fg_kernels_select(int level);

// The active implementation (see fg_kernel_table for each contract).
void fg_silu(const float *x, float *y, size_t n);
void fg_silu_backward(const float *x, const float *dy, float *dx, size_t n);
void fg_add_scalar(const float *x, float *y, size_t n, float b);
double fg_sum(const float *x, size_t n);
void fg_softmax_rows(float *p, size_t rows, size_t width);
void fg_softmax_backward_rows(const float *a, float *s, size_t rows, size_t width);
void fg_groupnorm_forward(const float *x, float *y, size_t channels, size_t spatial,
                          const float *gamma, const float *beta, double eps, int silu, float *mean, float *rstd);
void fg_groupnorm_backward(const float *x, const float *dy, float *dx, size_t channels, size_t spatial,
                           const float *gamma, const float *beta, float mean, float rstd, int silu,
                           double *sum_d, double *sum_dxhat);
void fg_adam(float *x, float *m, float *v, const float *g, size_t n, float w1, float b2, float w2,
             float inv_bc2_sqrt, float eps, float step_size, float l2, float shrink);

// Winograd F(2×2, 3×3) for 3×3 / stride-1 / pad-1 convolutions (winograd.c; one portable implementation).
// A transformed array holds 16 planes, ξ = 4·i + j for element (i, j) of a 4×4 tile; value (ξ, row r,
// column t) is at p[ξ·stride16 + r·ld + t]. An image [channels, h, w] (any h, w ≥ 1) has ⌈h/2⌉·⌈w/2⌉
// tiles, row-major; tile (ty, tx) covers outputs (2ty…2ty+1, 2tx…2tx+1) and reads the zero-padded input
// patch at rows 2ty−1…2ty+2, columns 2tx−1…2tx+2. Every channel is independent.

/// u[ξ][o][c] = (G·g[o][c]·Gᵀ)[ξ] for weights g [cout][cin][3][3].
void fg_winograd_weight(const float *g, float *u, size_t cout, size_t cin);
/// The adjoint of fg_winograd_weight: dg[o][c] = Gᵀ·du[·][o][c]·G (overwrites dg [cout][cin][3][3]).
void fg_winograd_weight_backward(const float *du, float *dg, size_t cout, size_t cin);
/// V = Bᵀ·d·B of every tile of every channel of image x; row r of v is channel r.
void fg_winograd_input(const float *x, size_t channels, size_t h, size_t w, float *v, size_t ld, size_t stride16);
/// The adjoint of fg_winograd_input: dx = Σ over tiles of B·dV·Bᵀ on each tile's patch, padding dropped
/// (overwrites dx [channels, h, w]).
void fg_winograd_input_backward(const float *dv, size_t ld, size_t stride16, float *dx,
                                size_t channels, size_t h, size_t w);
/// y = Aᵀ·M·A (+ bias[c] when bias is not NULL) of every tile, outputs past the image dropped
/// (overwrites y [channels, h, w]).
void fg_winograd_output(const float *m, size_t ld, size_t stride16, float *y,
                        size_t channels, size_t h, size_t w, const float *bias);
/// The adjoint of fg_winograd_output (without the bias): dM = A·dY·Aᵀ per tile, dropped outputs taken as 0.
void fg_winograd_output_backward(const float *dy, size_t channels, size_t h, size_t w,
                                 float *dm, size_t ld, size_t stride16);

#ifdef __cplusplus
}
#endif
#endif
