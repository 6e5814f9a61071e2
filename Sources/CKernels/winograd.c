// Winograd F(2×2, 3×3) transforms for 3×3 / stride-1 / pad-1 convolutions (Lavin & Gray 2015) and their
// adjoints. The GEMMs between the transforms run in Swift through OpenBLAS (NN/Conv2d.swift); these
// functions only move data between the image layout and the 16 transformed planes.
//
//   Bᵀ = [[1,0,−1,0],[0,1,1,0],[0,−1,1,0],[0,1,0,−1]]
//   G  = [[1,0,0],[½,½,½],[½,−½,½],[0,0,1]]
//   Aᵀ = [[1,1,1,0],[0,1,−1,−1]]
//
// Plain C: one implementation for every CPU, with FP contraction off (kernels_internal.h), so the same
// inputs give the same bits on every call whichever thread makes it. Channels (planes) are independent,
// so a caller may split a call into channel ranges by offsetting the pointers.
#include "kernels_internal.h"
#include <stdlib.h>
#include <string.h>

void fg_winograd_weight(const float *g, float *u, size_t cout, size_t cin) {
    size_t plane = cout * cin;
    for (size_t o = 0; o < cout; o++) {
        for (size_t c = 0; c < cin; c++) {
            const float *k = g + (o * cin + c) * 9;
            // t = G·k (4×3), then u = t·Gᵀ (4×4).
            float t[4][3];
            for (int j = 0; j < 3; j++) {
                float k0 = k[j], k1 = k[3 + j], k2 = k[6 + j];
                t[0][j] = k0;
                t[1][j] = 0.5f * ((k0 + k1) + k2);
                t[2][j] = 0.5f * ((k0 - k1) + k2);
                t[3][j] = k2;
            }
            float *dst = u + o * cin + c;
            for (int i = 0; i < 4; i++) {
                float a = t[i][0], b = t[i][1], d = t[i][2];
                dst[(4 * i + 0) * plane] = a;
                dst[(4 * i + 1) * plane] = 0.5f * ((a + b) + d);
                dst[(4 * i + 2) * plane] = 0.5f * ((a - b) + d);
                dst[(4 * i + 3) * plane] = d;
            }
        }
    }
}

void fg_winograd_weight_backward(const float *du, float *dg, size_t cout, size_t cin) {
    size_t plane = cout * cin;
    for (size_t o = 0; o < cout; o++) {
        for (size_t c = 0; c < cin; c++) {
            const float *src = du + o * cin + c;
            float q[4][4];
            for (int x = 0; x < 16; x++) q[x / 4][x % 4] = src[x * plane];
            // r = Gᵀ·dU (3×4), then dg = r·G (3×3).
            float r[3][4];
            for (int j = 0; j < 4; j++) {
                float s = q[1][j] + q[2][j];
                r[0][j] = q[0][j] + 0.5f * s;
                r[1][j] = 0.5f * (q[1][j] - q[2][j]);
                r[2][j] = 0.5f * s + q[3][j];
            }
            float *k = dg + (o * cin + c) * 9;
            for (int i = 0; i < 3; i++) {
                float s = r[i][1] + r[i][2];
                k[3 * i + 0] = r[i][0] + 0.5f * s;
                k[3 * i + 1] = 0.5f * (r[i][1] - r[i][2]);
                k[3 * i + 2] = 0.5f * s + r[i][3];
            }
        }
    }
}

void fg_winograd_input(const float *x, size_t channels, size_t h, size_t w,
                       float *v, size_t ld, size_t stride16) {
    size_t th = (h + 1) / 2, tw = (w + 1) / 2, pw = 2 * tw + 2;
    // Four zero-padded input rows: padded column q holds image column q − 1, so tile tx reads 2tx…2tx+3.
    float *rows = malloc(4 * pw * sizeof(float));
    if (!rows) abort();
    for (size_t c = 0; c < channels; c++) {
        const float *plane = x + c * h * w;
        for (size_t ty = 0; ty < th; ty++) {
            for (int i = 0; i < 4; i++) {
                float *row = rows + i * pw;
                long iy = (long)(2 * ty) - 1 + i;
                memset(row, 0, pw * sizeof(float));
                if (iy >= 0 && (size_t)iy < h) memcpy(row + 1, plane + (size_t)iy * w, w * sizeof(float));
            }
            const float *r0 = rows, *r1 = rows + pw, *r2 = rows + 2 * pw, *r3 = rows + 3 * pw;
            size_t base = c * ld + ty * tw;
            for (size_t tx = 0; tx < tw; tx++) {
                const float *d[4] = { r0 + 2 * tx, r1 + 2 * tx, r2 + 2 * tx, r3 + 2 * tx };
                // e = d·B (each row), then V = Bᵀ·e.
                float e[4][4];
                for (int i = 0; i < 4; i++) {
                    e[i][0] = d[i][0] - d[i][2];
                    e[i][1] = d[i][1] + d[i][2];
                    e[i][2] = d[i][2] - d[i][1];
                    e[i][3] = d[i][1] - d[i][3];
                }
                float *out = v + base + tx;
                for (int j = 0; j < 4; j++) {
                    out[(size_t)(0 + j) * stride16] = e[0][j] - e[2][j];
                    out[(size_t)(4 + j) * stride16] = e[1][j] + e[2][j];
                    out[(size_t)(8 + j) * stride16] = e[2][j] - e[1][j];
                    out[(size_t)(12 + j) * stride16] = e[1][j] - e[3][j];
                }
            }
        }
    }
    free(rows);
}

void fg_winograd_input_backward(const float *dv, size_t ld, size_t stride16, float *dx,
                                size_t channels, size_t h, size_t w) {
    size_t th = (h + 1) / 2, tw = (w + 1) / 2, pw = 2 * tw + 2, ph = 2 * th + 2;
    // The zero-padded gradient of one plane: tiles overlap by two rows and two columns, so their
    // contributions are summed here (in tile order) before the interior is copied out.
    float *acc = malloc(ph * pw * sizeof(float));
    if (!acc) abort();
    for (size_t c = 0; c < channels; c++) {
        memset(acc, 0, ph * pw * sizeof(float));
        for (size_t ty = 0; ty < th; ty++) {
            size_t base = c * ld + ty * tw;
            float *r0 = acc + 2 * ty * pw;
            for (size_t tx = 0; tx < tw; tx++) {
                const float *in = dv + base + tx;
                float q[4][4];
                for (int x = 0; x < 16; x++) q[x / 4][x % 4] = in[(size_t)x * stride16];
                // s = B·dV, then dd = s·Bᵀ (each row).
                float s[4][4];
                for (int j = 0; j < 4; j++) {
                    s[0][j] = q[0][j];
                    s[1][j] = (q[1][j] - q[2][j]) + q[3][j];
                    s[2][j] = (q[1][j] + q[2][j]) - q[0][j];
                    s[3][j] = -q[3][j];
                }
                for (int i = 0; i < 4; i++) {
                    float *row = r0 + i * pw + 2 * tx;
                    row[0] += s[i][0];
                    row[1] += (s[i][1] - s[i][2]) + s[i][3];
                    row[2] += (s[i][1] + s[i][2]) - s[i][0];
                    row[3] += -s[i][3];
                }
            }
        }
        float *plane = dx + c * h * w;
        for (size_t y = 0; y < h; y++) memcpy(plane + y * w, acc + (y + 1) * pw + 1, w * sizeof(float));
    }
    free(acc);
}

void fg_winograd_output(const float *m, size_t ld, size_t stride16, float *y,
                        size_t channels, size_t h, size_t w, const float *bias) {
    size_t th = (h + 1) / 2, tw = (w + 1) / 2;
    // Two output rows of whole tiles (2·tw wide); the copy to y drops the column past an odd width.
    float *rows = malloc(2 * 2 * tw * sizeof(float));
    if (!rows) abort();
    float *o0 = rows, *o1 = rows + 2 * tw;
    for (size_t c = 0; c < channels; c++) {
        float b = bias ? bias[c] : 0.0f;
        float *plane = y + c * h * w;
        for (size_t ty = 0; ty < th; ty++) {
            size_t base = c * ld + ty * tw;
            for (size_t tx = 0; tx < tw; tx++) {
                const float *in = m + base + tx;
                float q[4][4];
                for (int x = 0; x < 16; x++) q[x / 4][x % 4] = in[(size_t)x * stride16];
                // s = Aᵀ·M (2×4), then Y = s·A (2×2).
                float s[2][4];
                for (int j = 0; j < 4; j++) {
                    s[0][j] = (q[0][j] + q[1][j]) + q[2][j];
                    s[1][j] = (q[1][j] - q[2][j]) - q[3][j];
                }
                o0[2 * tx] = ((s[0][0] + s[0][1]) + s[0][2]) + b;
                o0[2 * tx + 1] = ((s[0][1] - s[0][2]) - s[0][3]) + b;
                o1[2 * tx] = ((s[1][0] + s[1][1]) + s[1][2]) + b;
                o1[2 * tx + 1] = ((s[1][1] - s[1][2]) - s[1][3]) + b;
            }
            memcpy(plane + 2 * ty * w, o0, w * sizeof(float));
            if (2 * ty + 1 < h) memcpy(plane + (2 * ty + 1) * w, o1, w * sizeof(float));
        }
    }
    free(rows);
}

void fg_winograd_output_backward(const float *dy, size_t channels, size_t h, size_t w,
                                 float *dm, size_t ld, size_t stride16) {
    size_t th = (h + 1) / 2, tw = (w + 1) / 2;
    // Two rows of ∂L/∂y padded to whole tiles: the outputs a partial tile drops get gradient zero.
    float *rows = malloc(2 * 2 * tw * sizeof(float));
    if (!rows) abort();
    float *g0 = rows, *g1 = rows + 2 * tw;
    for (size_t c = 0; c < channels; c++) {
        const float *plane = dy + c * h * w;
        for (size_t ty = 0; ty < th; ty++) {
            memset(rows, 0, 2 * 2 * tw * sizeof(float));
            memcpy(g0, plane + 2 * ty * w, w * sizeof(float));
            if (2 * ty + 1 < h) memcpy(g1, plane + (2 * ty + 1) * w, w * sizeof(float));
            size_t base = c * ld + ty * tw;
            for (size_t tx = 0; tx < tw; tx++) {
                float a = g0[2 * tx], b = g0[2 * tx + 1], cc = g1[2 * tx], d = g1[2 * tx + 1];
                // s = A·dY (4×2), then dM = s·Aᵀ (4×4).
                float s[4][2] = { { a, b }, { a + cc, b + d }, { a - cc, b - d }, { -cc, -d } };
                float *out = dm + base + tx;
                for (int i = 0; i < 4; i++) {
                    float p = s[i][0], q = s[i][1];
                    out[(size_t)(4 * i + 0) * stride16] = p;
                    out[(size_t)(4 * i + 1) * stride16] = p + q;
                    out[(size_t)(4 * i + 2) * stride16] = p - q;
                    out[(size_t)(4 * i + 3) * stride16] = -q;
                }
            }
        }
    }
    free(rows);
}
