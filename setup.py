"""Build the one compiled extension, stridepool._kernels (all metadata lives in pyproject.toml).

Environment switches:

STRIDEPOOL_DEBUG=1     Cython bounds/wraparound checks on, -O0 -g (for debugging).
STRIDEPOOL_SANITIZE=1  AddressSanitizer + UndefinedBehaviorSanitizer, implies STRIDEPOOL_DEBUG.
STRIDEPOOL_OPENMP=0    build without OpenMP (single-threaded kernels).
"""
import os
import subprocess
import sys
import sysconfig
import tempfile
import textwrap

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

SANITIZE = os.environ.get("STRIDEPOOL_SANITIZE", "0") == "1"
DEBUG = SANITIZE or os.environ.get("STRIDEPOOL_DEBUG", "0") == "1"
WANT_OPENMP = os.environ.get("STRIDEPOOL_OPENMP", "1") != "0"

DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": True,
    "embedsignature": True,
}

OPENMP_TEST = textwrap.dedent(
    """
    #include <omp.h>
    int main(void) {
        int n = 0;
        #pragma omp parallel reduction(+:n)
        n += 1;
        return n > 0 ? 0 : 1;
    }
    """
)


def _loud(msg):
    bar = "*" * 78
    sys.stderr.write(f"\n{bar}\n* stridepool: {msg}\n{bar}\n\n")


def _openmp_flags(compiler):
    """Return (compile_args, link_args) that enable OpenMP, or None if this compiler has none."""
    if compiler.compiler_type == "msvc":
        candidates = [(["/openmp"], [])]
    elif sys.platform == "darwin":
        # Apple clang needs libomp (brew install libomp / conda llvm-openmp).
        prefixes = [os.environ.get("LIBOMP_PREFIX", ""), "/opt/homebrew/opt/libomp", "/usr/local/opt/libomp"]
        candidates = [
            (["-Xpreprocessor", "-fopenmp", f"-I{p}/include"], [f"-L{p}/lib", "-lomp"])
            for p in prefixes if p and os.path.isdir(p)
        ] + [(["-fopenmp"], ["-fopenmp"])]
    else:
        candidates = [(["-fopenmp"], ["-fopenmp"])]
    for cflags, lflags in candidates:
        if _compiles(compiler, cflags, lflags):
            return cflags, lflags
    return None


def _compiles(compiler, cflags, lflags):
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "omp_test.c")
        with open(src, "w") as f:
            f.write(OPENMP_TEST)
        try:
            objs = compiler.compile([src], output_dir=tmp, extra_postargs=cflags)
            compiler.link_executable(objs, os.path.join(tmp, "omp_test"), extra_postargs=lflags)
        except Exception:
            return False
    return True


class BuildExt(build_ext):
    def build_extensions(self):
        cc = self.compiler
        flags = _openmp_flags(cc) if WANT_OPENMP else None
        if flags is None:
            _loud(
                "building WITHOUT OpenMP: kernels will run on one thread. "
                + ("(STRIDEPOOL_OPENMP=0)" if not WANT_OPENMP else "The compiler did not accept OpenMP flags.")
            )
            cflags, lflags = [], []
        else:
            cflags, lflags = flags
        for ext in self.extensions:
            if cc.compiler_type == "msvc":
                ext.extra_compile_args += ["/O2"] + cflags
            else:
                opt = ["-O0", "-g"] if DEBUG else ["-O3"]
                ext.extra_compile_args += opt + ["-Wno-unused-function", "-Wno-unreachable-code", "-Wno-tautological-compare"] + cflags
                if SANITIZE:
                    san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=undefined"]
                    ext.extra_compile_args += san
                    lflags = lflags + san
            ext.extra_link_args += lflags
        super().build_extensions()


def extensions():
    from Cython.Build import cythonize

    ext = Extension(
        "stridepool._kernels",
        ["src/stridepool/_kernels.pyx"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    )
    return cythonize([ext], compiler_directives=DIRECTIVES, annotate=os.environ.get("STRIDEPOOL_ANNOTATE") == "1")


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildExt})
