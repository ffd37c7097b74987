"""Build the optional C kernels (admm_xp/kernels/smallk.c, with smallk_impl.h and gram_f32.h); everything else is in pyproject.toml.

The extension is optional: where no C compiler is found, or the build fails, the install goes
on without it and the NumPy backend uses BLAS for the products it would have done
(admm_xp/kernels/smallk.py). The kernels are compiled for AVX-512F with a target attribute and
checked at run time, so the build needs no -march flag.
"""
from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "admm_xp.kernels._smallk",
            sources=["admm_xp/kernels/smallk.c"],
            depends=["admm_xp/kernels/smallk_impl.h", "admm_xp/kernels/gram_f32.h"],
            extra_compile_args=["-O3"],
            optional=True,
        )
    ]
)
