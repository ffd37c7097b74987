/* Products with a small side for the NumPy fast path, AVX-512 (loaded with ctypes by
 * admm_xp/kernels/smallk.py; built by setup.py as an optional extension), and the float32 Gram
 * of a slab (gram_f32.h).
 *
 * At the HIGGS shape the input layer is 28 wide, and the two products with it, W_1 a_0 (300 x 28
 * times 28 x n) and z_1 a_0^T (300 x n times n x 28), are short of the machine's GEMM rate in
 * OpenBLAS when called per block: each call packs both operands, and the 300 x 4,096 output (or
 * input) of a block does not fit the core's L2 cache. These kernels pack nothing but a few
 * columns of X at a time, so the numba loop can call them on each slab of a few hundred columns
 * while that slab is in L2. Functions are compiled for AVX-512F with the target attribute and
 * chosen at run time: smallk_supported() says whether this CPU runs them. */
#include <Python.h>
#include <immintrin.h>
#include <stddef.h>

#define SMALLK_MAX_K 32
#define ATTR __attribute__((target("avx512f,fma")))

int smallk_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
}

int smallk_max_k(void) { return SMALLK_MAX_K; }

#define T float
#define SFX f32
#define V __m512
#define L 16
#define MASK __mmask16
#define VZERO() _mm512_setzero_ps()
#define VSET1(x) _mm512_set1_ps(x)
#define VLOAD(p) _mm512_load_ps(p)
#define VLOADU(p) _mm512_loadu_ps(p)
#define VMLOADU(m, p) _mm512_maskz_loadu_ps(m, p)
#define VSTOREU(p, x) _mm512_storeu_ps(p, x)
#define VMSTOREU(p, m, x) _mm512_mask_storeu_ps(p, m, x)
#define VFMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define VADD(a, b) _mm512_add_ps(a, b)
#include "smallk_impl.h"
#include "gram_f32.h"
#undef T
#undef SFX
#undef V
#undef L
#undef MASK
#undef VZERO
#undef VSET1
#undef VLOAD
#undef VLOADU
#undef VMLOADU
#undef VSTOREU
#undef VMSTOREU
#undef VFMA
#undef VADD

#define T double
#define SFX f64
#define V __m512d
#define L 8
#define MASK __mmask8
#define VZERO() _mm512_setzero_pd()
#define VSET1(x) _mm512_set1_pd(x)
#define VLOAD(p) _mm512_load_pd(p)
#define VLOADU(p) _mm512_loadu_pd(p)
#define VMLOADU(m, p) _mm512_maskz_loadu_pd(m, p)
#define VSTOREU(p, x) _mm512_storeu_pd(p, x)
#define VMSTOREU(p, m, x) _mm512_mask_storeu_pd(p, m, x)
#define VFMA(a, b, c) _mm512_fmadd_pd(a, b, c)
#define VADD(a, b) _mm512_add_pd(a, b)
#include "smallk_impl.h"

/* An empty module, so that importing the file by mistake fails softly; the functions above are
 * called through ctypes. */
static struct PyModuleDef smallk_module = {PyModuleDef_HEAD_INIT, "_smallk", NULL, -1, NULL, NULL, NULL, NULL, NULL};
PyMODINIT_FUNC PyInit__smallk(void) { return PyModule_Create(&smallk_module); }
