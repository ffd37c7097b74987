/* Probe only (not part of admm_xp): a hand-written AVX-512 float32 Gram kernel, to see whether
 * a Gram product a a^T at the HIGGS shape (a of 300 x 4,096) can run faster than OpenBLAS's syrk.
 * Built and timed by gram_probe.py. Upper triangle only; G is float64 and accumulates.
 *
 * Layout: a chunk of kc samples is packed transposed, P[n][i] (row stride dp, rows past d zero),
 * so that one packed copy serves both sides of the product; a 32 x 12 micro-kernel then keeps
 * 24 zmm accumulators, loads two vectors of P[n][i0 : i0 + 32] and broadcasts twelve P[n][j]. */
#include <immintrin.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define MR 32
#define NR 12

int gram_dp(int d) { return ((d + MR - 1) / MR) * MR + 16; }

void gram_pack_f32(const float *a, ptrdiff_t lda, int d, ptrdiff_t k0, int kc, float *P, int dp) {
    for (int i = 0; i < d; i++) {
        const float *src = a + (ptrdiff_t)i * lda + k0;
        for (int n = 0; n < kc; n++) P[(ptrdiff_t)n * dp + i] = src[n];
    }
}

static void micro(const float *P, int dp, int i0, int j0, int kc, float *C) {
    __m512 c0[NR], c1[NR];
    for (int c = 0; c < NR; c++) { c0[c] = _mm512_setzero_ps(); c1[c] = _mm512_setzero_ps(); }
    const float *p = P;
    for (int n = 0; n < kc; n++, p += dp) {
        __m512 x0 = _mm512_load_ps(p + i0), x1 = _mm512_load_ps(p + i0 + 16);
#pragma GCC unroll 12
        for (int c = 0; c < NR; c++) {
            __m512 b = _mm512_set1_ps(p[j0 + c]);
            c0[c] = _mm512_fmadd_ps(x0, b, c0[c]);
            c1[c] = _mm512_fmadd_ps(x1, b, c1[c]);
        }
    }
    for (int c = 0; c < NR; c++) { _mm512_store_ps(C + c * MR, c0[c]); _mm512_store_ps(C + c * MR + 16, c1[c]); }
}

/* G += upper triangle of P^T P over kc packed samples. */
void gram_packed_f32(const float *P, int dp, int d, int kc, double *G) {
    float C[MR * NR] __attribute__((aligned(64)));
    for (int i0 = 0; i0 < d; i0 += MR)
        for (int j0 = i0; j0 < d; j0 += NR) {
            micro(P, dp, i0, j0, kc, C);
            int ie = i0 + MR < d ? i0 + MR : d, je = j0 + NR < d ? j0 + NR : d;
            for (int i = i0; i < ie; i++)
                for (int j = (j0 > i ? j0 : i); j < je; j++) G[(ptrdiff_t)i * d + j] += C[(j - j0) * MR + (i - i0)];
        }
}

/* G += upper triangle of a a^T (a: d rows, row stride lda, k samples), kc samples per packed chunk. */
int gram_f32(const float *a, ptrdiff_t lda, int d, ptrdiff_t k, double *G, int kc) {
    int dp = gram_dp(d);
    float *P = aligned_alloc(64, (size_t)kc * dp * sizeof(float));
    if (!P) return -1;
    memset(P, 0, (size_t)kc * dp * sizeof(float));
    for (ptrdiff_t k0 = 0; k0 < k; k0 += kc) {
        int kk = (int)(k - k0 < kc ? k - k0 : kc);
        gram_pack_f32(a, lda, d, k0, kk, P, dp);
        gram_packed_f32(P, dp, d, kk, G);
    }
    free(P);
    return 0;
}
