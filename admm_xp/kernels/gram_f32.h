/* The Gram sums a a^T of one slab, float32, AVX-512F (included by smallk.c, which defines ATTR).
 *
 * At the HIGGS shape the Gram of the hidden layer (300 x 300 over the samples) is the largest
 * product of an iteration, and OpenBLAS's syrk runs it at about two thirds of the sgemm rate.
 * This kernel runs on each slab of a few hundred columns that the fused loop has just written,
 * while it is in the core's L2 cache. The slab (d rows of a, w columns, row stride lda) is taken
 * GKC columns at a time; each chunk is packed transposed into panels of GP = 32 rows: panel q
 * holds rows 32q .. 32q + 31 as GKC rows of 32 floats (P[q][n][r]; rows past d are zeros), made
 * with 16 x 16 in-register transposes. One packed copy serves both sides of the product: a
 * register tile of 32 rows x up to 12 columns loads two vectors of one panel's row n and
 * broadcasts up to 12 floats of another panel's row n, so nothing is summed across lanes. The
 * tiles cover the upper triangle (column j >= row i), never straddle two panels, and use one
 * vector of rows instead of two where the other is all below the diagonal. Each tile sums its
 * chunk from zero in float32 and adds that into C (dp x dp, C[j * dp + i] for i <= j, dp = d
 * rounded up to 32): blocked sums, as accurate as BLAS's (tested). The caller keeps C over the
 * slabs of a block, then adds it into float64. */
#define GP 32
#define GNR 12
/* Columns per packed chunk (one chunk's panel, 16 KiB at 128, stays in L1 across a row of tiles):
 * the layer-1 pass at the HIGGS shape, two threads, took 134-137 ms with 128, 138 with 256 and
 * 137-140 with 64 (results/bench/probes/gram_chunk.txt; a small difference). */
#define GKC 128

static inline int gram_dp(int d) { return (d + GP - 1) / GP * GP; }

/* For the caller's buffers: C is smallk_gram_dp(d)^2 floats, P smallk_gram_dp(d) * smallk_gram_chunk() floats. */
int smallk_gram_dp(int d) { return gram_dp(d); }
int smallk_gram_chunk(void) { return GKC; }

/* 16 x 16 transpose: r[k] holds row k; on return r[c] holds column c. */
ATTR static inline void transpose16(__m512 r[16]) {
    __m512 t[16], u[16];
    for (int m = 0; m < 8; m++) {
        t[2 * m] = _mm512_unpacklo_ps(r[2 * m], r[2 * m + 1]);
        t[2 * m + 1] = _mm512_unpackhi_ps(r[2 * m], r[2 * m + 1]);
    }
    for (int q = 0; q < 4; q++) {
        u[4 * q + 0] = _mm512_shuffle_ps(t[4 * q], t[4 * q + 2], _MM_SHUFFLE(1, 0, 1, 0));
        u[4 * q + 1] = _mm512_shuffle_ps(t[4 * q], t[4 * q + 2], _MM_SHUFFLE(3, 2, 3, 2));
        u[4 * q + 2] = _mm512_shuffle_ps(t[4 * q + 1], t[4 * q + 3], _MM_SHUFFLE(1, 0, 1, 0));
        u[4 * q + 3] = _mm512_shuffle_ps(t[4 * q + 1], t[4 * q + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    /* u[4q + s], lane L: column 4L + s of rows 4q .. 4q + 3 */
    for (int s = 0; s < 4; s++) {
        __m512 x = _mm512_shuffle_f32x4(u[s], u[4 + s], 0x88), y = _mm512_shuffle_f32x4(u[s], u[4 + s], 0xDD);
        __m512 x2 = _mm512_shuffle_f32x4(u[8 + s], u[12 + s], 0x88), y2 = _mm512_shuffle_f32x4(u[8 + s], u[12 + s], 0xDD);
        r[s] = _mm512_shuffle_f32x4(x, x2, 0x88);
        r[8 + s] = _mm512_shuffle_f32x4(x, x2, 0xDD);
        r[4 + s] = _mm512_shuffle_f32x4(y, y2, 0x88);
        r[12 + s] = _mm512_shuffle_f32x4(y, y2, 0xDD);
    }
}

/* P (panels of GP rows, w rows of GP floats each, 64-byte aligned) = the slab a transposed. */
ATTR static void gram_pack(const float *a, ptrdiff_t lda, int d, int w, float *P) {
    int dp = gram_dp(d);
    for (int i0 = 0; i0 < dp; i0 += 16) {
        float *dst = P + (ptrdiff_t)(i0 / GP) * w * GP + i0 % GP;
        for (int n0 = 0; n0 < w; n0 += 16) {
            int cols = w - n0 < 16 ? w - n0 : 16;
            __mmask16 m = (__mmask16)(cols == 16 ? 0xFFFF : (1u << cols) - 1u);
            __m512 r[16];
            for (int k = 0; k < 16; k++)
                r[k] = i0 + k < d ? _mm512_maskz_loadu_ps(m, a + (ptrdiff_t)(i0 + k) * lda + n0) : _mm512_setzero_ps();
            transpose16(r);
            for (int s = 0; s < cols; s++) _mm512_store_ps(dst + (ptrdiff_t)(n0 + s) * GP, r[s]);
        }
    }
}

/* One register tile: C[j][i0 .. i0 + 16 * NV] += sum over n of Pi[n][...] * Pj[n][j - j0'] for the
 * NR columns j0 .. j0 + NR (Pj: their panel, already offset to column j0). */
#define GRAM_TILE(NR, NV)                                                                               \
    ATTR static void gram_tile_##NR##_##NV(const float *Pi, const float *Pj, int w, float *C, int dp) {  \
        __m512 c[NR][NV];                                                                               \
        for (int k = 0; k < NR; k++)                                                                    \
            for (int v = 0; v < NV; v++) c[k][v] = _mm512_setzero_ps();                                \
        for (int n = 0; n < w; n++) {                                                                   \
            __m512 x[NV];                                                                               \
            for (int v = 0; v < NV; v++) x[v] = _mm512_load_ps(Pi + (ptrdiff_t)n * GP + 16 * v);        \
            _Pragma("GCC unroll 12") for (int k = 0; k < NR; k++) {                                      \
                __m512 b = _mm512_set1_ps(Pj[(ptrdiff_t)n * GP + k]);                                   \
                for (int v = 0; v < NV; v++) c[k][v] = _mm512_fmadd_ps(x[v], b, c[k][v]);               \
            }                                                                                           \
        }                                                                                               \
        for (int k = 0; k < NR; k++)                                                                    \
            for (int v = 0; v < NV; v++) {                                                              \
                float *o = C + (ptrdiff_t)k * dp + 16 * v;                                              \
                _mm512_store_ps(o, _mm512_add_ps(_mm512_load_ps(o), c[k][v]));                          \
            }                                                                                           \
    }
#define GRAM_TILES(NR) GRAM_TILE(NR, 1) GRAM_TILE(NR, 2)
GRAM_TILES(1) GRAM_TILES(2) GRAM_TILES(3) GRAM_TILES(4) GRAM_TILES(5) GRAM_TILES(6)
GRAM_TILES(7) GRAM_TILES(8) GRAM_TILES(9) GRAM_TILES(10) GRAM_TILES(11) GRAM_TILES(12)

typedef void (*gram_tile_fn)(const float *, const float *, int, float *, int);
static const gram_tile_fn gram_tiles[2][GNR + 1] = {
    {NULL, gram_tile_1_1, gram_tile_2_1, gram_tile_3_1, gram_tile_4_1, gram_tile_5_1, gram_tile_6_1, gram_tile_7_1,
     gram_tile_8_1, gram_tile_9_1, gram_tile_10_1, gram_tile_11_1, gram_tile_12_1},
    {NULL, gram_tile_1_2, gram_tile_2_2, gram_tile_3_2, gram_tile_4_2, gram_tile_5_2, gram_tile_6_2, gram_tile_7_2,
     gram_tile_8_2, gram_tile_9_2, gram_tile_10_2, gram_tile_11_2, gram_tile_12_2},
};

/* The tiles of one chunk of wc <= GKC columns, packed into P first. */
ATTR static void gram_chunk(const float *a, ptrdiff_t lda, int d, int w, float *P, float *C, int dp) {
    gram_pack(a, lda, d, w, P);
    for (int i0 = 0; i0 < d; i0 += GP) {
        const float *Pi = P + (ptrdiff_t)(i0 / GP) * w * GP;
        for (int jp = i0; jp < d; jp += GP) {  /* the panels of columns, from the diagonal one */
            const float *Pq = P + (ptrdiff_t)(jp / GP) * w * GP;
            int je = jp + GP < d ? jp + GP : d;
            for (int j0 = jp; j0 < je; j0 += GNR) {
                int nr = je - j0 < GNR ? je - j0 : GNR;
                /* rows past i0 + 16 matter only where some column reaches them (and d does) */
                int nv = (j0 + nr - 1 >= i0 + 16 && i0 + 16 < d) ? 2 : 1;
                gram_tiles[nv - 1][nr](Pi, Pq + (j0 - jp), w, C + (ptrdiff_t)j0 * dp + i0, dp);
            }
        }
    }
}

/* C (float32, dp x dp, 64-byte aligned) += the upper triangle of a a^T over the slab's w columns
 * (C[j * dp + i] for i <= j; entries below the diagonal may get sums nobody reads). P: a buffer
 * of dp x GKC floats, 64-byte aligned. Returns 0, or 1 if a buffer is not 64-byte aligned. */
ATTR int smallk_gram_f32(const float *a, ptrdiff_t lda, int d, int w, float *P, float *C) {
    int dp = gram_dp(d);
    if (((size_t)P | (size_t)C) % 64) return 1;
    if (w < 1 || d < 1) return 0;
    for (int n0 = 0; n0 < w; n0 += GKC) {
        int wc = w - n0 < GKC ? w - n0 : GKC;
        gram_chunk(a + n0, lda, d, wc, P, C, dp);
    }
    return 0;
}
#undef GP
#undef GNR
#undef GKC
