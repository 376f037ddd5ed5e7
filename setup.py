"""Build the compiled kernels (all metadata lives in pyproject.toml): stridepool._kernels for the baseline
instruction set and, on x86-64, stridepool._kernels_avx2 (AVX2 + FMA) and stridepool._kernels_avx512
(x86-64-v4) from the same source.

Environment switches:

STRIDEPOOL_DEBUG=1     Cython bounds/wraparound checks on, -O0 -g (for debugging).
STRIDEPOOL_SANITIZE=1  AddressSanitizer + UndefinedBehaviorSanitizer, implies STRIDEPOOL_DEBUG.
STRIDEPOOL_OPENMP=0    build without OpenMP (single-threaded kernels).
STRIDEPOOL_AVX2=0      skip the AVX2 + FMA variant of the kernels (x86-64 only; used at run time only on
                       CPUs that have AVX2, the baseline module everywhere else).
STRIDEPOOL_AVX512=0    skip the AVX-512 (x86-64-v4: F, BW, DQ, VL) variant (x86-64 only; used at run time only
                       on CPUs that have them, see stridepool._compiled).
STRIDEPOOL_BUILD_JOBS=N  how many extension modules are cythonized, and then compiled, at the same time
                       (default: os.cpu_count(); 1 builds one after the other). Never more jobs than modules.
                       `python setup.py build_ext -j N` overrides it for the compile step.
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
WANT_AVX2 = os.environ.get("STRIDEPOOL_AVX2", "1") != "0"
WANT_AVX512 = os.environ.get("STRIDEPOOL_AVX512", "1") != "0"
AVX2_FLAGS = ["-mavx2", "-mfma"]
AVX512_FLAGS = AVX2_FLAGS + ["-mavx512f", "-mavx512bw", "-mavx512dq", "-mavx512vl"]
# Parallel build: each extension module is one large C file (tens of seconds at -O3 each), so the modules
# are cythonized in worker processes (cythonize's nthreads) and compiled in threads (build_ext's parallel),
# JOBS at a time.
JOBS = max(1, int(os.environ.get("STRIDEPOOL_BUILD_JOBS", "0")) or os.cpu_count() or 1)

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


AVX512_TEST = textwrap.dedent(
    """
    #include <immintrin.h>
    int main(void) {
        __m512 a = _mm512_add_ps(_mm512_set1_ps(1.0f), _mm512_set1_ps(2.0f));
        __mmask16 m = _mm512_cmp_ps_mask(a, _mm512_set1_ps(3.0f), _CMP_EQ_OQ);
        return m == 0xffff ? 0 : 1;
    }
    """
)

AVX2_TEST = textwrap.dedent(
    """
    #include <immintrin.h>
    int main(void) {
        __m256 a = _mm256_fmadd_ps(_mm256_set1_ps(1.0f), _mm256_set1_ps(2.0f), _mm256_setzero_ps());
        return (int)_mm256_cvtss_f32(a) == 2 ? 0 : 1;
    }
    """
)


def _compiles(compiler, cflags, lflags, source=OPENMP_TEST):
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "test.c")
        with open(src, "w") as f:
            f.write(source)
        try:
            objs = compiler.compile([src], output_dir=tmp, extra_postargs=cflags)
            compiler.link_executable(objs, os.path.join(tmp, "test"), extra_postargs=lflags)
        except Exception:
            return False
    return True


class BuildExt(build_ext):
    def finalize_options(self):
        super().finalize_options()
        jobs = min(JOBS, len(self.extensions or ()))
        if not self.parallel and jobs > 1:  # no `-j N` on the command line
            self.parallel = jobs

    def build_extensions(self):
        cc = self.compiler
        flags = _openmp_flags(cc) if WANT_OPENMP else None
        if flags is None:
            _loud(
                "building WITHOUT OpenMP: kernels will run on one thread. "
                + ("(STRIDEPOOL_OPENMP=0)" if not WANT_OPENMP else "The compiler did not accept OpenMP flags.")
            )
            flags = ([], [])
        omp_c, omp_l = flags
        if cc.compiler_type == "msvc":
            common_c, common_l = ["/O2"], []
        else:
            # -fwrapv: integer gradients wrap on overflow as NumPy's do, as defined behaviour
            common_c = (["-O0", "-g"] if DEBUG else ["-O3"]) + [
                "-fwrapv", "-Wno-unused-function", "-Wno-unreachable-code", "-Wno-tautological-compare"]
            common_l = []
            if SANITIZE:
                san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=undefined"]
                common_c, common_l = common_c + san, san
        avx2_ok = (WANT_AVX2 and cc.compiler_type != "msvc"
                   and _compiles(cc, AVX2_FLAGS, [], AVX2_TEST))
        avx512_ok = (WANT_AVX512 and avx2_ok and _compiles(cc, AVX512_FLAGS, [], AVX512_TEST))
        kept = []
        for ext in self.extensions:
            extra_c = []
            if ext.name.endswith("_avx2"):
                if not avx2_ok:
                    sys.stderr.write("stridepool: not building the AVX2 kernels (not x86-64, or the compiler "
                                     "refused -mavx2, or STRIDEPOOL_AVX2=0); the baseline kernels serve all CPUs\n")
                    continue
                extra_c = AVX2_FLAGS
            elif ext.name.endswith("_avx512"):
                if not avx512_ok:
                    sys.stderr.write("stridepool: not building the AVX-512 kernels (not x86-64, or the compiler "
                                     "refused the flags, or STRIDEPOOL_AVX512=0 or STRIDEPOOL_AVX2=0)\n")
                    continue
                extra_c = AVX512_FLAGS
            ext.extra_compile_args += common_c + extra_c + omp_c
            ext.extra_link_args += common_l + omp_l
            kept.append(ext)
        self.extensions = kept
        super().build_extensions()


def extensions():
    from Cython.Build import cythonize

    exts = [Extension(f"stridepool.{name}", [f"src/stridepool/{name}.pyx"], include_dirs=["src/stridepool"],
                      depends=["src/stridepool/_kernels_impl.pxi", "src/stridepool/_vec.h"])
            for name in ("_kernels", "_kernels_avx2", "_kernels_avx512")]
    jobs = min(JOBS, len(exts))
    return cythonize(exts, compiler_directives=DIRECTIVES, annotate=os.environ.get("STRIDEPOOL_ANNOTATE") == "1",
                     nthreads=jobs if jobs > 1 else 0)  # 0: in this process, no worker pool


# The guard matters for the parallel cythonize: where worker processes are spawned instead of forked
# (Windows, macOS, Python 3.14's forkserver on Linux) each worker re-imports the main module, and must not
# run setup() again. setuptools' PEP 517 backend runs this file with __name__ == "__main__" too.
if __name__ == "__main__":
    setup(ext_modules=extensions(), cmdclass={"build_ext": BuildExt})
