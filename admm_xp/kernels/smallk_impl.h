/* The two small-K products, written once for one floating type (included twice by smallk.c).
 *
 * Before including, smallk.c defines: T (float or double), SFX (name suffix), V (the 512-bit
 * vector type), L (lanes per vector), VZERO, VSET1, VLOAD (aligned), VLOADU, VMLOADU
 * (masked, zeros elsewhere), VSTOREU, VMSTOREU, VFMA, VADD and MASK (the lane-mask type).
 */
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define COLS (4 * L)  /* columns of W a per register tile: four vectors */
#define RB 6          /* rows of W a per register tile: 6 x 4 = 24 accumulators */
#define ZCHUNK 256    /* columns of z a^T per chunk */

static inline MASK CAT(tail_mask, SFX)(int n) { return (MASK)((n >= L) ? ~0u : ((1u << n) - 1u)); }

/* out (d x w, row stride ldo) = W (d x K, row-major) times X (K x w, row stride ldx).
 * Walks the columns in tiles of COLS; each tile of X is first copied into a small aligned
 * buffer (its rows at the buffer's row stride, not the array's, so that K rows never fight over
 * the same cache sets), then every RB rows of W make one register tile. Returns 0, or 1 if K is
 * too large for the buffer (the caller then uses BLAS). */
ATTR int CAT(smallk_wa_, SFX)(const T *W, int d, int K, const T *X, ptrdiff_t ldx, int w, T *out, ptrdiff_t ldo) {
    T buf[SMALLK_MAX_K * COLS] __attribute__((aligned(64)));
    if (K > SMALLK_MAX_K || K < 1) return 1;
    for (int j = 0; j < w; j += COLS) {
        int n = w - j < COLS ? w - j : COLS;
        MASK m[4];
        for (int v = 0; v < 4; v++) m[v] = CAT(tail_mask, SFX)(n - v * L > 0 ? n - v * L : 0);
        for (int k = 0; k < K; k++)
            for (int v = 0; v < 4; v++) VSTOREU(buf + k * COLS + v * L, VMLOADU(m[v], X + k * ldx + j + v * L));
        int i = 0;
        for (; i + RB <= d; i += RB) {
            V c[RB][4];
            for (int r = 0; r < RB; r++)
                for (int v = 0; v < 4; v++) c[r][v] = VZERO();
            for (int k = 0; k < K; k++) {
                const T *xr = buf + k * COLS;
                V x0 = VLOAD(xr), x1 = VLOAD(xr + L), x2 = VLOAD(xr + 2 * L), x3 = VLOAD(xr + 3 * L);
#pragma GCC unroll 6
                for (int r = 0; r < RB; r++) {
                    V b = VSET1(W[(ptrdiff_t)(i + r) * K + k]);
                    c[r][0] = VFMA(x0, b, c[r][0]);
                    c[r][1] = VFMA(x1, b, c[r][1]);
                    c[r][2] = VFMA(x2, b, c[r][2]);
                    c[r][3] = VFMA(x3, b, c[r][3]);
                }
            }
            for (int r = 0; r < RB; r++)
                for (int v = 0; v < 4; v++) VMSTOREU(out + (ptrdiff_t)(i + r) * ldo + j + v * L, m[v], c[r][v]);
        }
        for (; i < d; i++) {  /* the last d % RB rows, one at a time */
            V c[4] = {VZERO(), VZERO(), VZERO(), VZERO()};
            for (int k = 0; k < K; k++) {
                V b = VSET1(W[(ptrdiff_t)i * K + k]);
                for (int v = 0; v < 4; v++) c[v] = VFMA(VLOAD(buf + k * COLS + v * L), b, c[v]);
            }
            for (int v = 0; v < 4; v++) VMSTOREU(out + (ptrdiff_t)i * ldo + j + v * L, m[v], c[v]);
        }
    }
    return 0;
}

/* One register tile of z a^T: rows i0 .. i0 + R of Z against every row of A, all w columns.
 * At is A transposed and padded (w x KV*L, row stride KV*L); out (float64, row stride K) gets
 * the tile's sums added. R rows x KV vectors = 24 accumulators. */
#define ZAT_TILE(KV, R)                                                                                  \
    ATTR static void CAT(CAT(zat_tile_, KV), SFX)(const T *Z, ptrdiff_t ldz, int i0, int rows, const T *At, \
                                                  int K, int w, double *out) {                            \
        V c[R][KV];                                                                                      \
        for (int r = 0; r < R; r++)                                                                      \
            for (int v = 0; v < KV; v++) c[r][v] = VZERO();                                              \
        const T *z0 = Z + (ptrdiff_t)i0 * ldz;                                                           \
        if (rows == R) {                                                                                 \
            for (int j = 0; j < w; j++) {                                                                \
                V a[KV];                                                                                 \
                for (int v = 0; v < KV; v++) a[v] = VLOAD(At + (ptrdiff_t)j * (KV * L) + v * L);         \
                _Pragma("GCC unroll 24") for (int r = 0; r < R; r++) {                                   \
                    V b = VSET1(z0[r * ldz + j]);                                                        \
                    for (int v = 0; v < KV; v++) c[r][v] = VFMA(a[v], b, c[r][v]);                       \
                }                                                                                        \
            }                                                                                            \
        } else {                                                                                         \
            for (int j = 0; j < w; j++)                                                                  \
                for (int r = 0; r < rows; r++) {                                                         \
                    V b = VSET1(z0[r * ldz + j]);                                                        \
                    for (int v = 0; v < KV; v++)                                                         \
                        c[r][v] = VFMA(VLOAD(At + (ptrdiff_t)j * (KV * L) + v * L), b, c[r][v]);          \
                }                                                                                        \
        }                                                                                                \
        for (int r = 0; r < rows; r++) {                                                                 \
            T tmp[KV * L] __attribute__((aligned(64)));                                                  \
            for (int v = 0; v < KV; v++) VSTOREU(tmp + v * L, c[r][v]);                                  \
            for (int k = 0; k < K; k++) out[(ptrdiff_t)(i0 + r) * K + k] += (double)tmp[k];              \
        }                                                                                                \
    }
ZAT_TILE(1, 24)
ZAT_TILE(2, 12)
ZAT_TILE(3, 8)
ZAT_TILE(4, 6)

/* out (d x K, float64, row-major) += Z (d x w, row stride ldz) times A (K x w, row stride lda)
 * transposed, ZCHUNK columns at a time. Each chunk of A is first copied transposed into a buffer
 * (ZCHUNK x K, rows padded to whole vectors);
 * then each register tile broadcasts one element of R rows of Z at a time against the vectors of
 * that buffer's row, so nothing is summed across lanes. Every output element is a plain sum over
 * ZCHUNK columns in order, in the data's precision, added to out in float64 chunk by chunk: the
 * same columns in the same calls give the same bits. Returns 0, or 1 if K is too large (use BLAS). */
ATTR int CAT(smallk_zat_, SFX)(const T *Z, ptrdiff_t ldz, int d, const T *A, ptrdiff_t lda, int K, int w, double *out) {
    T At[ZCHUNK * SMALLK_MAX_K] __attribute__((aligned(64)));
    int kv = (K + L - 1) / L, kp = kv * L;
    if (K > SMALLK_MAX_K || K < 1 || kv > 4) return 1;
    int R = 24 / kv;
    for (int j0 = 0; j0 < w; j0 += ZCHUNK) {
        int wc = w - j0 < ZCHUNK ? w - j0 : ZCHUNK;
        for (int j = 0; j < wc; j++)
            for (int k = K; k < kp; k++) At[j * kp + k] = 0;
        for (int k = 0; k < K; k++)
            for (int j = 0; j < wc; j++) At[j * kp + k] = A[(ptrdiff_t)k * lda + j0 + j];
        for (int i = 0; i < d; i += R) {
            int rows = d - i < R ? d - i : R;
            switch (kv) {
                case 1: CAT(zat_tile_1, SFX)(Z + j0, ldz, i, rows, At, K, wc, out); break;
                case 2: CAT(zat_tile_2, SFX)(Z + j0, ldz, i, rows, At, K, wc, out); break;
                case 3: CAT(zat_tile_3, SFX)(Z + j0, ldz, i, rows, At, K, wc, out); break;
                default: CAT(zat_tile_4, SFX)(Z + j0, ldz, i, rows, At, K, wc, out); break;
            }
        }
    }
    return 0;
}

#undef COLS
#undef RB
#undef ZCHUNK
