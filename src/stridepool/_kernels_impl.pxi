# The compiled kernels of stridepool, included by _kernels.pyx (baseline instruction set) and by
# _kernels_avx2.pyx (the same code built with AVX2 + FMA, used only on CPUs that have them; see
# stridepool._compiled). Compiler directives are set once, in setup.py.
#
# Contract: the Python layer (stridepool._compiled) hands every kernel flat C-contiguous, native-order
# buffers of the right dtypes, the dimensions as a tuple, a window table from stridepool._params.window_table
# and a positive thread count, and never calls a kernel on an empty output. The def wrappers check that the
# buffers have the lengths the dimensions say and that every window of the table lies inside the input, so
# no call can read or write out of bounds, whatever it is given. Kernels do no allocation but per-thread
# scratch, take no Python objects in their loops, release the GIL and split the work so that every output
# element is written by exactly one thread (results never depend on the thread count).
#
# One N-d core: every array is seen as blocks (B, D, H, W, C) with C innermost, three pooled axes (D, H, W);
# a pooling over one or two axes has trivial leading pooled axes (one window of one tap). C == 1 is the
# planar case (..., D, H, W) and vectorises along W; C > 1 is channels-last and vectorises over C. Every
# kernel walks the output row by row (b, od, oh): the input rows one output row's windows read, in
# row-major tap order, come from _rows, and the loops along W are shared by 1D, 2D and 3D.
#
# Window table `tab` (int64, shape (3, 4, L)): tab[0] depth, tab[1] height, tab[2] width; for window o of an
# axis, tab[a, 0, o] = start (input coordinate of tap 0), tab[a, 1, o] = t0, tab[a, 2, o] = t1 (taps
# t0 <= t < t1 are inside the input, at start + t * dilation), tab[a, 3, o] = taps inside the padded extent.
# Adaptive windows (stride 0 along W) have varying extents; they take the window-by-window loops.

from cython.parallel cimport parallel, prange
from libc.stdint cimport int8_t, int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.math cimport INFINITY
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memset

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define SP_HAVE_OPENMP 1
    #else
    #define SP_HAVE_OPENMP 0
    static int omp_get_max_threads(void) { return 1; }
    static void omp_set_num_threads(int n) { (void)n; }
    #endif
    #if defined(_WIN32)
    #include <malloc.h>
    static void* sp_alloc(size_t n) { return _aligned_malloc(n, 64); }
    static void sp_free(void* p) { _aligned_free(p); }
    static void sp_advise_huge(void* p, size_t n) { (void)p; (void)n; }
    static int sp_trim(void) { return 0; }
    #else
    #include <stdlib.h>
    #if defined(__linux__)
    #include <sys/mman.h>
    #endif
    #if defined(__GLIBC__)
    #include <malloc.h>
    #endif
    static void* sp_alloc(size_t n) { void* p = NULL; return posix_memalign(&p, 4096, n) ? NULL : p; }
    static void sp_free(void* p) { free(p); }
    static int sp_trim(void) {  /* give freed heap memory back to the operating system, where the C library can */
    #if defined(__GLIBC__)
        return malloc_trim(0);
    #else
        return 0;
    #endif
    }
    static void sp_advise_huge(void* p, size_t n) {
    #if defined(__linux__) && defined(MADV_HUGEPAGE)
        madvise(p, n, MADV_HUGEPAGE);  /* as NumPy does for large arrays: fewer page faults */
    #else
        (void)p; (void)n;
    #endif
    }
    #endif
    static int sp_cpu_has_avx2(void) {
    #if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    #else
        return 0;
    #endif
    }
    static int sp_cpu_has_avx512(void) {  /* x86-64-v4: what _kernels_avx512 is built for */
    #if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
        __builtin_cpu_init();
        return sp_cpu_has_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
            && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    #else
        return 0;
    #endif
    }
    """
    const int SP_HAVE_OPENMP
    int omp_get_max_threads() noexcept nogil
    void omp_set_num_threads(int) noexcept nogil
    int sp_cpu_has_avx2() noexcept nogil
    int sp_cpu_has_avx512() noexcept nogil
    void* sp_alloc(size_t n) noexcept nogil
    void sp_free(void* p) noexcept nogil
    void sp_advise_huge(void* p, size_t n) noexcept nogil
    int sp_trim() noexcept nogil

cdef extern from "_vec.h" nogil:
    # vector building blocks (see _vec.h): SP_LANES lanes of any type per step, an int32 key per lane
    const int SP_LANES
    const int32_t SP_KEY_PAD
    void sp_lowpairs_float(const float*, Py_ssize_t, float*, int)
    void sp_lowpairs_double(const double*, Py_ssize_t, double*, int)
    void sp_highpairs_float(const float*, Py_ssize_t, float*, int)
    void sp_highpairs_double(const double*, Py_ssize_t, double*, int)
    void sp_lownanpairs_float(const float*, Py_ssize_t, float*, int)
    void sp_nanblocks_float(const float*, const float*, Py_ssize_t, float*, int, float)
    void sp_nanblocks_double(const double*, const double*, Py_ssize_t, double*, int, double)
    void sp_lownanpairs_double(const double*, Py_ssize_t, double*, int)
    void sp_highnanpairs_float(const float*, Py_ssize_t, float*, int)
    void sp_highnanpairs_double(const double*, Py_ssize_t, double*, int)
    void sp_colmax_float(const float*, const Py_ssize_t*, const int32_t*, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                         float*, int32_t*)
    void sp_colmax_double(const double*, const Py_ssize_t*, const int32_t*, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                          double*, int32_t*)
    void sp_colmax_int8_t(const int8_t*, const Py_ssize_t*, const int32_t*, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                          int8_t*, int32_t*)
    void sp_colmax_int16_t(const int16_t*, const Py_ssize_t*, const int32_t*, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                           int16_t*, int32_t*)
    void sp_colmax_int32_t(const int32_t*, const Py_ssize_t*, const int32_t*, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                           int32_t*, int32_t*)
    void sp_colmax_int64_t(const int64_t*, const Py_ssize_t*, const int32_t*, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                           int64_t*, int32_t*)
    void sp_colmax_uint8_t(const uint8_t*, const Py_ssize_t*, const int32_t*, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                           uint8_t*, int32_t*)
    void sp_colmax_uint16_t(const uint16_t*, const Py_ssize_t*, const int32_t*, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                            Py_ssize_t, uint16_t*, int32_t*)
    void sp_colmax_uint32_t(const uint32_t*, const Py_ssize_t*, const int32_t*, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                            Py_ssize_t, uint32_t*, int32_t*)
    void sp_colmax_uint64_t(const uint64_t*, const Py_ssize_t*, const int32_t*, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                            Py_ssize_t, uint64_t*, int32_t*)
    void sp_colmax_exact_float(const float*, const Py_ssize_t*, const int32_t*, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                               float*, int32_t*)
    void sp_colmax_exact_double(const double*, const Py_ssize_t*, const int32_t*, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                                Py_ssize_t, double*, int32_t*)
    void sp_colmax_exact_int8_t(const int8_t*, const Py_ssize_t*, const int32_t*, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                                Py_ssize_t, int8_t*, int32_t*)
    void sp_colmax_exact_int16_t(const int16_t*, const Py_ssize_t*, const int32_t*, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                                 Py_ssize_t, int16_t*, int32_t*)
    void sp_colmax_exact_int32_t(const int32_t*, const Py_ssize_t*, const int32_t*, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                                 Py_ssize_t, int32_t*, int32_t*)
    void sp_colmax_exact_int64_t(const int64_t*, const Py_ssize_t*, const int32_t*, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                                 Py_ssize_t, int64_t*, int32_t*)
    void sp_colmax_exact_uint8_t(const uint8_t*, const Py_ssize_t*, const int32_t*, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                                 Py_ssize_t, uint8_t*, int32_t*)
    void sp_colmax_exact_uint16_t(const uint16_t*, const Py_ssize_t*, const int32_t*, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                                  Py_ssize_t, uint16_t*, int32_t*)
    void sp_colmax_exact_uint32_t(const uint32_t*, const Py_ssize_t*, const int32_t*, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                                  Py_ssize_t, uint32_t*, int32_t*)
    void sp_colmax_exact_uint64_t(const uint64_t*, const Py_ssize_t*, const int32_t*, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                                  Py_ssize_t, uint64_t*, int32_t*)
    void sp_colmax2_float(const float*, const Py_ssize_t*, const int32_t*, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                       float*, float*, int32_t*, int32_t*)
    void sp_colmax2_double(const double*, const Py_ssize_t*, const int32_t*, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                       double*, double*, int32_t*, int32_t*)
    void sp_colmax2_int8_t(const int8_t*, const Py_ssize_t*, const int32_t*, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                       int8_t*, int8_t*, int32_t*, int32_t*)
    void sp_colmax2_int16_t(const int16_t*, const Py_ssize_t*, const int32_t*, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                       int16_t*, int16_t*, int32_t*, int32_t*)
    void sp_colmax2_int32_t(const int32_t*, const Py_ssize_t*, const int32_t*, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                       int32_t*, int32_t*, int32_t*, int32_t*)
    void sp_colmax2_int64_t(const int64_t*, const Py_ssize_t*, const int32_t*, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                       int64_t*, int64_t*, int32_t*, int32_t*)
    void sp_colmax2_uint8_t(const uint8_t*, const Py_ssize_t*, const int32_t*, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                       uint8_t*, uint8_t*, int32_t*, int32_t*)
    void sp_colmax2_uint16_t(const uint16_t*, const Py_ssize_t*, const int32_t*, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                       uint16_t*, uint16_t*, int32_t*, int32_t*)
    void sp_colmax2_uint32_t(const uint32_t*, const Py_ssize_t*, const int32_t*, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                       uint32_t*, uint32_t*, int32_t*, int32_t*)
    void sp_colmax2_uint64_t(const uint64_t*, const Py_ssize_t*, const int32_t*, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                       uint64_t*, uint64_t*, int32_t*, int32_t*)
    void sp_winsum_float_float(const float*, const Py_ssize_t*, const Py_ssize_t*, Py_ssize_t, Py_ssize_t,
                         Py_ssize_t, float*)
    void sp_winsum_float_double(const float*, const Py_ssize_t*, const Py_ssize_t*, Py_ssize_t, Py_ssize_t,
                         Py_ssize_t, double*)
    void sp_winsum_double_float(const double*, const Py_ssize_t*, const Py_ssize_t*, Py_ssize_t, Py_ssize_t,
                         Py_ssize_t, float*)
    void sp_winsum_double_double(const double*, const Py_ssize_t*, const Py_ssize_t*, Py_ssize_t, Py_ssize_t,
                         Py_ssize_t, double*)
    void sp_winsum_int8_t_float(const int8_t*, const Py_ssize_t*, const Py_ssize_t*, Py_ssize_t, Py_ssize_t,
                         Py_ssize_t, float*)
    void sp_winsum_int8_t_double(const int8_t*, const Py_ssize_t*, const Py_ssize_t*, Py_ssize_t, Py_ssize_t,
                         Py_ssize_t, double*)
    void sp_winsum_int16_t_float(const int16_t*, const Py_ssize_t*, const Py_ssize_t*, Py_ssize_t, Py_ssize_t,
                         Py_ssize_t, float*)
    void sp_winsum_int16_t_double(const int16_t*, const Py_ssize_t*, const Py_ssize_t*, Py_ssize_t, Py_ssize_t,
                         Py_ssize_t, double*)
    void sp_winsum_int32_t_float(const int32_t*, const Py_ssize_t*, const Py_ssize_t*, Py_ssize_t, Py_ssize_t,
                         Py_ssize_t, float*)
    void sp_winsum_int32_t_double(const int32_t*, const Py_ssize_t*, const Py_ssize_t*, Py_ssize_t, Py_ssize_t,
                         Py_ssize_t, double*)
    void sp_winsum_int64_t_float(const int64_t*, const Py_ssize_t*, const Py_ssize_t*, Py_ssize_t, Py_ssize_t,
                         Py_ssize_t, float*)
    void sp_winsum_int64_t_double(const int64_t*, const Py_ssize_t*, const Py_ssize_t*, Py_ssize_t, Py_ssize_t,
                         Py_ssize_t, double*)
    void sp_winsum_uint8_t_float(const uint8_t*, const Py_ssize_t*, const Py_ssize_t*, Py_ssize_t, Py_ssize_t,
                         Py_ssize_t, float*)
    void sp_winsum_uint8_t_double(const uint8_t*, const Py_ssize_t*, const Py_ssize_t*, Py_ssize_t, Py_ssize_t,
                         Py_ssize_t, double*)
    void sp_winsum_uint16_t_float(const uint16_t*, const Py_ssize_t*, const Py_ssize_t*, Py_ssize_t, Py_ssize_t,
                         Py_ssize_t, float*)
    void sp_winsum_uint16_t_double(const uint16_t*, const Py_ssize_t*, const Py_ssize_t*, Py_ssize_t, Py_ssize_t,
                         Py_ssize_t, double*)
    void sp_winsum_uint32_t_float(const uint32_t*, const Py_ssize_t*, const Py_ssize_t*, Py_ssize_t, Py_ssize_t,
                         Py_ssize_t, float*)
    void sp_winsum_uint32_t_double(const uint32_t*, const Py_ssize_t*, const Py_ssize_t*, Py_ssize_t, Py_ssize_t,
                         Py_ssize_t, double*)
    void sp_winsum_uint64_t_float(const uint64_t*, const Py_ssize_t*, const Py_ssize_t*, Py_ssize_t, Py_ssize_t,
                         Py_ssize_t, float*)
    void sp_winsum_uint64_t_double(const uint64_t*, const Py_ssize_t*, const Py_ssize_t*, Py_ssize_t, Py_ssize_t,
                         Py_ssize_t, double*)
    void sp_wincl_float(const float*, const Py_ssize_t*, const int32_t*, Py_ssize_t, Py_ssize_t, float*, int32_t*)
    void sp_wincl_double(const double*, const Py_ssize_t*, const int32_t*, Py_ssize_t, Py_ssize_t, double*, int32_t*)
    void sp_wincl_int8_t(const int8_t*, const Py_ssize_t*, const int32_t*, Py_ssize_t, Py_ssize_t, int8_t*, int32_t*)
    void sp_wincl_int16_t(const int16_t*, const Py_ssize_t*, const int32_t*, Py_ssize_t, Py_ssize_t, int16_t*, int32_t*)
    void sp_wincl_int32_t(const int32_t*, const Py_ssize_t*, const int32_t*, Py_ssize_t, Py_ssize_t, int32_t*, int32_t*)
    void sp_wincl_int64_t(const int64_t*, const Py_ssize_t*, const int32_t*, Py_ssize_t, Py_ssize_t, int64_t*, int32_t*)
    void sp_wincl_uint8_t(const uint8_t*, const Py_ssize_t*, const int32_t*, Py_ssize_t, Py_ssize_t, uint8_t*, int32_t*)
    void sp_wincl_uint16_t(const uint16_t*, const Py_ssize_t*, const int32_t*, Py_ssize_t, Py_ssize_t, uint16_t*, int32_t*)
    void sp_wincl_uint32_t(const uint32_t*, const Py_ssize_t*, const int32_t*, Py_ssize_t, Py_ssize_t, uint32_t*, int32_t*)
    void sp_wincl_uint64_t(const uint64_t*, const Py_ssize_t*, const int32_t*, Py_ssize_t, Py_ssize_t, uint64_t*, int32_t*)
    void sp_winfirst_float(const float*, const Py_ssize_t*, Py_ssize_t, Py_ssize_t, float*, int32_t*)
    void sp_winfirst_double(const double*, const Py_ssize_t*, Py_ssize_t, Py_ssize_t, double*, int32_t*)
    void sp_winfirst_int8_t(const int8_t*, const Py_ssize_t*, Py_ssize_t, Py_ssize_t, int8_t*, int32_t*)
    void sp_winfirst_int16_t(const int16_t*, const Py_ssize_t*, Py_ssize_t, Py_ssize_t, int16_t*, int32_t*)
    void sp_winfirst_int32_t(const int32_t*, const Py_ssize_t*, Py_ssize_t, Py_ssize_t, int32_t*, int32_t*)
    void sp_winfirst_int64_t(const int64_t*, const Py_ssize_t*, Py_ssize_t, Py_ssize_t, int64_t*, int32_t*)
    void sp_winfirst_uint8_t(const uint8_t*, const Py_ssize_t*, Py_ssize_t, Py_ssize_t, uint8_t*, int32_t*)
    void sp_winfirst_uint16_t(const uint16_t*, const Py_ssize_t*, Py_ssize_t, Py_ssize_t, uint16_t*, int32_t*)
    void sp_winfirst_uint32_t(const uint32_t*, const Py_ssize_t*, Py_ssize_t, Py_ssize_t, uint32_t*, int32_t*)
    void sp_winfirst_uint64_t(const uint64_t*, const Py_ssize_t*, Py_ssize_t, Py_ssize_t, uint64_t*, int32_t*)
    void sp_winmax_float(const float*, const int32_t*, const Py_ssize_t*, Py_ssize_t, Py_ssize_t, float*, int32_t*)
    void sp_winmax_double(const double*, const int32_t*, const Py_ssize_t*, Py_ssize_t, Py_ssize_t, double*,
                          int32_t*)
    void sp_winmax_int8_t(const int8_t*, const int32_t*, const Py_ssize_t*, Py_ssize_t, Py_ssize_t, int8_t*,
                          int32_t*)
    void sp_winmax_int16_t(const int16_t*, const int32_t*, const Py_ssize_t*, Py_ssize_t, Py_ssize_t, int16_t*,
                           int32_t*)
    void sp_winmax_int32_t(const int32_t*, const int32_t*, const Py_ssize_t*, Py_ssize_t, Py_ssize_t, int32_t*,
                           int32_t*)
    void sp_winmax_int64_t(const int64_t*, const int32_t*, const Py_ssize_t*, Py_ssize_t, Py_ssize_t, int64_t*,
                           int32_t*)
    void sp_winmax_uint8_t(const uint8_t*, const int32_t*, const Py_ssize_t*, Py_ssize_t, Py_ssize_t, uint8_t*,
                           int32_t*)
    void sp_winmax_uint16_t(const uint16_t*, const int32_t*, const Py_ssize_t*, Py_ssize_t, Py_ssize_t, uint16_t*,
                            int32_t*)
    void sp_winmax_uint32_t(const uint32_t*, const int32_t*, const Py_ssize_t*, Py_ssize_t, Py_ssize_t, uint32_t*,
                            int32_t*)
    void sp_winmax_uint64_t(const uint64_t*, const int32_t*, const Py_ssize_t*, Py_ssize_t, Py_ssize_t, uint64_t*,
                            int32_t*)

ctypedef fused num_t:
    float
    double
    int8_t
    int16_t
    int32_t
    int64_t
    uint8_t
    uint16_t
    uint32_t
    uint64_t

ctypedef fused real_t:
    float
    double

# The stride along W of a vectorised interior, as a type: each specialisation of a fused function sees a
# constant step (1, 2) however the compiler inlines, so strided loads vectorise with fixed shuffles.
ctypedef struct StepOne:
    char unused
ctypedef struct StepTwo:
    char unused
ctypedef struct StepAny:
    char unused
ctypedef fused step_t:
    StepOne
    StepTwo
    StepAny

HAVE_OPENMP = bool(SP_HAVE_OPENMP)


def cpu_has_avx2():
    """True when this CPU (and OS) support AVX2 and FMA, so that _kernels_avx2 may be imported."""
    return bool(sp_cpu_has_avx2())


def cpu_has_avx512():
    """True when this CPU (and OS) support AVX-512 F, BW, DQ and VL, so that _kernels_avx512 may be imported."""
    return bool(sp_cpu_has_avx512())


#: lanes of the kernels' vector steps (_vec.h): 4 (baseline), 8 (AVX2) or 16 (AVX-512)
LANES = SP_LANES


def openmp_max_threads():
    """omp_get_max_threads() of the calling thread (1 without OpenMP)."""
    return omp_get_max_threads()


def openmp_set_num_threads(int n):
    """omp_set_num_threads(n) for the calling thread (no-op without OpenMP)."""
    omp_set_num_threads(n)


# ---------------------------------------------------------------------------------------- result buffers
#
# Large results (values, indices, gradients) come from a small cache of recently freed buffers: a training loop
# that pools arrays of the same shapes every step gets its memory back without the operating system mapping
# and zeroing fresh pages each time (for the large standard cases that costs as much as the pooling itself).
# A Block owns one buffer; a NumPy array made on it keeps it alive; when the last view dies the buffer goes
# back to the cache (up to `cache_limit` bytes, least recently used ones freed first) or to the allocator.
# Everything here runs with the GIL held.

cdef enum:
    CACHE_SLOTS = 32

cdef void* _cache_ptr[CACHE_SLOTS]
cdef size_t _cache_size[CACHE_SLOTS]
cdef unsigned long long _cache_tick[CACHE_SLOTS]
cdef unsigned long long _tick = 0
cdef size_t _cache_total = 0
cdef size_t _cache_limit = 0


def set_cache_limit(size_t nbytes):
    """Keep at most ``nbytes`` of freed result buffers for reuse (0: none); frees what no longer fits."""
    global _cache_limit
    _cache_limit = nbytes
    _cache_trim(0)


def release_cache():
    """Free every cached result buffer and give the C library's free memory back to the operating system;
    returns the bytes of buffers freed. The limit stays."""
    cdef size_t freed = _cache_total, limit = _cache_limit
    set_cache_limit(0)
    set_cache_limit(limit)
    sp_trim()
    return freed


def cache_info():
    """(bytes cached, buffers cached, limit in bytes)."""
    cdef int i, n = 0
    for i in range(CACHE_SLOTS):
        n += _cache_ptr[i] != NULL
    return _cache_total, n, _cache_limit


cdef void _cache_trim(size_t room) noexcept:
    """Free least recently used buffers until `room` more bytes fit under the limit and a slot is free."""
    global _cache_total
    cdef int i, oldest
    while True:
        oldest = -1
        for i in range(CACHE_SLOTS):
            if _cache_ptr[i] != NULL and (oldest < 0 or _cache_tick[i] < _cache_tick[oldest]):
                oldest = i
        if oldest < 0 or (_cache_total + room <= _cache_limit and not all_slots_used()):
            return
        sp_free(_cache_ptr[oldest])
        _cache_total -= _cache_size[oldest]
        _cache_ptr[oldest] = NULL


cdef bint all_slots_used() noexcept:
    cdef int i
    for i in range(CACHE_SLOTS):
        if _cache_ptr[i] == NULL:
            return False
    return True


cdef void* _cache_take(size_t nbytes) noexcept:
    global _cache_total
    cdef int i
    cdef void* p
    for i in range(CACHE_SLOTS):
        if _cache_ptr[i] != NULL and _cache_size[i] == nbytes:
            p = _cache_ptr[i]
            _cache_ptr[i] = NULL
            _cache_total -= nbytes
            return p
    p = sp_alloc(nbytes)
    if p != NULL:
        sp_advise_huge(p, nbytes)
    return p


cdef void _cache_give(void* p, size_t nbytes) noexcept:
    global _cache_total, _tick
    cdef int i
    if nbytes > _cache_limit:
        sp_free(p)
        return
    _cache_trim(nbytes)
    for i in range(CACHE_SLOTS):
        if _cache_ptr[i] == NULL:
            _tick += 1
            _cache_ptr[i], _cache_size[i], _cache_tick[i] = p, nbytes, _tick
            _cache_total += nbytes
            return
    sp_free(p)


#: results smaller than this come from np.empty (the allocator reuses small blocks itself)
CACHE_MIN_BYTES = 1 << 20
_ndarray = None  # numpy.ndarray, set by stridepool._compiled (the kernels do not import NumPy)


def set_ndarray(cls):
    global _ndarray
    _ndarray = cls


cdef class Block:
    """One result buffer (the base of the NumPy array made on it); back to the cache when freed."""
    cdef void* ptr
    cdef Py_ssize_t nbytes
    cdef Py_ssize_t shape[1]
    cdef Py_ssize_t strides[1]

    def __cinit__(self, Py_ssize_t nbytes):
        if nbytes < 1:
            raise ValueError("a block holds at least one byte")
        self.ptr = _cache_take(<size_t>nbytes)
        if self.ptr == NULL:
            raise MemoryError()
        self.nbytes = nbytes
        self.shape[0] = nbytes
        self.strides[0] = 1

    def __getbuffer__(self, Py_buffer* view, int flags):
        view.buf = self.ptr
        view.obj = self
        view.len = self.nbytes
        view.readonly = 0
        view.itemsize = 1
        view.format = "B"
        view.ndim = 1
        view.shape = self.shape
        view.strides = self.strides
        view.suboffsets = NULL
        view.internal = NULL

    def __releasebuffer__(self, Py_buffer* view):
        pass

    def __dealloc__(self):
        if self.ptr != NULL:
            _cache_give(self.ptr, <size_t>self.nbytes)
            self.ptr = NULL


# ------------------------------------------------------------------------------------------- dimensions

cdef struct Dims:
    Py_ssize_t B, D, H, W, C        # input blocks (B, D, H, W, C)
    Py_ssize_t OD, OH, OW           # windows along each pooled axis
    Py_ssize_t kd, kh, kw           # taps per window (the longest, for adaptive windows)
    Py_ssize_t sw                   # stride along W; 0: adaptive (no vectorised interior)
    Py_ssize_t dd, dh, dw           # dilation
    Py_ssize_t L                    # row length of the table
    const int64_t* dt               # the table's depth, height and width rows, (4, L) each
    const int64_t* ht
    const int64_t* wt
    Py_ssize_t lo, hi               # planar regular columns [lo, hi) have windows wholly inside along W


#: the dimensions a kernel takes, in this order
DIMS = ("B", "D", "H", "W", "C", "OD", "OH", "OW", "kd", "kh", "kw", "sw", "dd", "dh", "dw")

cdef Py_ssize_t _LIMIT = <Py_ssize_t>1 << 40


cdef int _check_axis(const int64_t* t, Py_ssize_t L, Py_ssize_t o, Py_ssize_t n, Py_ssize_t k, Py_ssize_t d,
                     bint nonempty) except -1:
    """Every window's taps t0 <= t < t1 lie inside [0, n) (and there is one, for pooling)."""
    cdef Py_ssize_t i, start, t0, t1
    for i in range(o):
        start, t0, t1 = t[i], t[L + i], t[2 * L + i]
        if not (0 <= t0 <= t1 <= k) or not (-_LIMIT < start < _LIMIT) or (nonempty and t1 == t0):
            raise ValueError(f"window table entry {i} ({start}, {t0}, {t1}) does not fit k={k}")
        if t1 > t0 and (start + t0 * d < 0 or start + (t1 - 1) * d >= n):
            raise ValueError(f"window table entry {i} reads outside an axis of {n}")
    return 0


cdef int _set_dims(Dims* g, tuple dims, const int64_t[:, :, ::1] tab, Py_ssize_t n_in, Py_ssize_t n_out,
                   bint nonempty) except -1:
    """Fill ``g`` from a DIMS tuple; check the buffer lengths (over the input and the output extent; n_out -1:
    the caller checks) and that every window of ``tab`` lies inside the input."""
    if len(dims) != 15:
        raise ValueError(f"dims must have 15 entries {DIMS}, got {dims!r}")
    for v in dims:
        if not 0 <= v < _LIMIT:
            raise ValueError(f"dims out of range: {dims!r}")
    B, D, H, W, C, OD, OH, OW, kd, kh, kw, sw, dd, dh, dw = dims
    if n_in != B * D * H * W * C or (n_out >= 0 and n_out != B * OD * OH * OW * C):
        raise ValueError(f"buffers of {n_in} and {n_out} elements do not match dims {dims!r}")
    if min(kd, kh, kw, dd, dh, dw) < 1 or tab.shape[0] != 3 or tab.shape[1] != 4 or tab.shape[2] < max(OD, OH, OW):
        raise ValueError(f"dims {dims!r} do not fit a table of shape {tuple(tab.shape)[:3]}")
    g.B, g.D, g.H, g.W, g.C, g.OD, g.OH, g.OW = B, D, H, W, C, OD, OH, OW
    g.kd, g.kh, g.kw, g.sw, g.dd, g.dh, g.dw = kd, kh, kw, sw, dd, dh, dw
    g.L = tab.shape[2]
    g.dt = &tab[0, 0, 0]
    g.ht = &tab[1, 0, 0]
    g.wt = &tab[2, 0, 0]
    _check_axis(g.dt, g.L, OD, D, kd, dd, nonempty)
    _check_axis(g.ht, g.L, OH, H, kh, dh, nonempty)
    _check_axis(g.wt, g.L, OW, W, kw, dw, nonempty)
    _interior(g)
    return 0


cdef void _interior(Dims* g) noexcept nogil:
    """[lo, hi): the planar columns whose windows lie wholly inside the input along W (regular windows)."""
    cdef const int64_t* ct = g.wt
    cdef Py_ssize_t L = g.L, lo = 0, hi = g.OW
    if g.C != 1 or g.sw == 0:
        g.lo = g.hi = g.OW
        return
    while lo < g.OW and not (ct[L + lo] == 0 and ct[2 * L + lo] == g.kw):
        lo += 1
    while hi > lo and not (ct[L + hi - 1] == 0 and ct[2 * L + hi - 1] == g.kw):
        hi -= 1
    g.lo, g.hi = lo, hi


cdef inline Py_ssize_t _rows(const Dims* g, Py_ssize_t od, Py_ssize_t oh, Py_ssize_t* rows,
                             Py_ssize_t* taps) noexcept nogil:
    """The input rows that the windows of output row (od, oh) read, in row-major tap order: rows[m] is the
    row's element offset in its (D, H, W) block (the caller multiplies by C), taps[m] (if taps) the number
    i * kh + j of its tap row. Returns how many."""
    cdef Py_ssize_t L = g.L
    cdef Py_ssize_t ds = g.dt[od], d0 = g.dt[L + od], d1 = g.dt[2 * L + od]
    cdef Py_ssize_t hs = g.ht[oh], h0 = g.ht[L + oh], h1 = g.ht[2 * L + oh]
    cdef Py_ssize_t i, j, m = 0
    for i in range(d0, d1):
        for j in range(h0, h1):
            rows[m] = ((ds + i * g.dd) * g.H + hs + j * g.dh) * g.W
            if taps != NULL:
                taps[m] = i * g.kh + j
            m += 1
    return m


cdef enum:
    # rows up to this wide get the per-thread scratch of the column-wise (and stride-2 split) interiors
    COLS_MAX_W = 1 << 16


cdef inline Py_ssize_t _row_divisor(const Dims* g, Py_ssize_t od, Py_ssize_t oh,
                                    bint count_include_pad) noexcept nogil:
    """The depth x height part of average pooling's divisor for output row (od, oh)."""
    cdef Py_ssize_t L = g.L
    if count_include_pad:
        return g.dt[3 * L + od] * g.ht[3 * L + oh]
    return (g.dt[2 * L + od] - g.dt[L + od]) * (g.ht[2 * L + oh] - g.ht[L + oh])


cdef inline Py_ssize_t _divisor(const Dims* g, Py_ssize_t rdiv, Py_ssize_t ow, bint count_include_pad,
                                Py_ssize_t divisor_override) noexcept nogil:
    if divisor_override != 0:
        return divisor_override
    if count_include_pad:
        return rdiv * g.wt[3 * g.L + ow]
    return rdiv * (g.wt[2 * g.L + ow] - g.wt[g.L + ow])


cdef inline bint _global(const Dims* g) noexcept nogil:
    """One planar window per block that reads the whole (D, H, W) block in memory order (global pooling)."""
    cdef Py_ssize_t L = g.L
    return (g.C == 1 and g.OD == 1 and g.OH == 1 and g.OW == 1
            and g.dt[0] == 0 and g.dt[L] == 0 and g.dt[2 * L] == g.D and (g.dd == 1 or g.D == 1)
            and g.ht[0] == 0 and g.ht[L] == 0 and g.ht[2 * L] == g.H and (g.dh == 1 or g.H == 1)
            and g.wt[0] == 0 and g.wt[L] == 0 and g.wt[2 * L] == g.W and (g.dw == 1 or g.W == 1))


# ------------------------------------------------------------------------------------------- max forward

cdef struct Index:
    # where a max kernel puts the index of each maximum: flat positions (pos), or nowhere (NULL)
    int64_t* pos
    void* cols                       # scratch: a row's column maxima (W values, in 8-byte units)
    Py_ssize_t* toffs                # scratch: a window's taps (channels-last): their offsets,
    Py_ssize_t* tpos                 # positions,
    int32_t* tkeys                   # and keys
    bint any



cdef inline bint _takes(num_t v, num_t best) noexcept nogil:
    # v replaces the running maximum: strictly greater (ties keep the first), or the first NaN (once the
    # maximum is NaN nothing replaces it; a NaN v is 'not <=' anything).
    # Written with & (no short-circuit) so that every caller, vectorised loop or scalar window, compiles it to
    # compares and selects rather than branches.
    return (best == best) & (not (v <= best))


# ------------------------------------------------------------------------------------- batched planar max
#
# Planar max pooling over regular windows along W (any windows along D and H) runs on batches of output rows,
# so that a row costs a few vector steps whatever its width (7x7 planes as well as 112x112): for each output
# row of a batch, the first maximum of each input column over the row's tap rows and its key (_vec.h) go into
# a scratch row of Wp = OWp * sw cells (cell 0 is the first window's first column; padding cells hold the
# lowest value and SP_KEY_PAD); with rows of Wp cells every window of the batch starts sw cells after the
# previous one (OWp - OW extra windows per row take the place of the columns the last window reads past the
# next window's start), so one pass over the whole batch takes each window's maximum across its columns (with
# sw > 1, over the cells split by phase first, so that every tap reads contiguous cells). Keys make the result
# the row-major first maximum bit for bit (see _vec.h). The keys are the maxima's flat positions in their block.

cdef inline void _colmax(const num_t* blk, const Py_ssize_t* offs, const int32_t* keys, Py_ssize_t nr,
                         Py_ssize_t c0, Py_ssize_t kshift, Py_ssize_t n, num_t* dv, int32_t* dk,
                         bint exact) noexcept nogil:
    """The column maxima and their keys (keys[m] + kshift + column) of columns c0 + [0, n) over nr rows: whole
    vectors of SP_LANES columns (n rounded up; reading past the columns), or exactly n columns."""
    cdef Py_ssize_t nc = (n + SP_LANES - 1) // SP_LANES
    if num_t is float:
        if exact:
            sp_colmax_exact_float(blk, offs, keys, nr, c0, kshift, n, dv, dk)
        else:
            sp_colmax_float(blk, offs, keys, nr, c0, kshift, nc, dv, dk)
    elif num_t is double:
        if exact:
            sp_colmax_exact_double(blk, offs, keys, nr, c0, kshift, n, dv, dk)
        else:
            sp_colmax_double(blk, offs, keys, nr, c0, kshift, nc, dv, dk)
    elif num_t is int8_t:
        if exact:
            sp_colmax_exact_int8_t(blk, offs, keys, nr, c0, kshift, n, dv, dk)
        else:
            sp_colmax_int8_t(blk, offs, keys, nr, c0, kshift, nc, dv, dk)
    elif num_t is int16_t:
        if exact:
            sp_colmax_exact_int16_t(blk, offs, keys, nr, c0, kshift, n, dv, dk)
        else:
            sp_colmax_int16_t(blk, offs, keys, nr, c0, kshift, nc, dv, dk)
    elif num_t is int32_t:
        if exact:
            sp_colmax_exact_int32_t(blk, offs, keys, nr, c0, kshift, n, dv, dk)
        else:
            sp_colmax_int32_t(blk, offs, keys, nr, c0, kshift, nc, dv, dk)
    elif num_t is int64_t:
        if exact:
            sp_colmax_exact_int64_t(blk, offs, keys, nr, c0, kshift, n, dv, dk)
        else:
            sp_colmax_int64_t(blk, offs, keys, nr, c0, kshift, nc, dv, dk)
    elif num_t is uint8_t:
        if exact:
            sp_colmax_exact_uint8_t(blk, offs, keys, nr, c0, kshift, n, dv, dk)
        else:
            sp_colmax_uint8_t(blk, offs, keys, nr, c0, kshift, nc, dv, dk)
    elif num_t is uint16_t:
        if exact:
            sp_colmax_exact_uint16_t(blk, offs, keys, nr, c0, kshift, n, dv, dk)
        else:
            sp_colmax_uint16_t(blk, offs, keys, nr, c0, kshift, nc, dv, dk)
    elif num_t is uint32_t:
        if exact:
            sp_colmax_exact_uint32_t(blk, offs, keys, nr, c0, kshift, n, dv, dk)
        else:
            sp_colmax_uint32_t(blk, offs, keys, nr, c0, kshift, nc, dv, dk)
    else:
        if exact:
            sp_colmax_exact_uint64_t(blk, offs, keys, nr, c0, kshift, n, dv, dk)
        else:
            sp_colmax_uint64_t(blk, offs, keys, nr, c0, kshift, nc, dv, dk)


cdef inline void _wincl(const num_t* xp, const Py_ssize_t* toffs, const int32_t* tkeys, Py_ssize_t ntaps,
                        Py_ssize_t C, num_t* yo, int32_t* ko) noexcept nogil:
    """One channels-last window: every channel's first maximum over the taps xp + toffs[t], and its tap's key."""
    if num_t is float:
        sp_wincl_float(xp, toffs, tkeys, ntaps, C, yo, ko)
    elif num_t is double:
        sp_wincl_double(xp, toffs, tkeys, ntaps, C, yo, ko)
    elif num_t is int8_t:
        sp_wincl_int8_t(xp, toffs, tkeys, ntaps, C, yo, ko)
    elif num_t is int16_t:
        sp_wincl_int16_t(xp, toffs, tkeys, ntaps, C, yo, ko)
    elif num_t is int32_t:
        sp_wincl_int32_t(xp, toffs, tkeys, ntaps, C, yo, ko)
    elif num_t is int64_t:
        sp_wincl_int64_t(xp, toffs, tkeys, ntaps, C, yo, ko)
    elif num_t is uint8_t:
        sp_wincl_uint8_t(xp, toffs, tkeys, ntaps, C, yo, ko)
    elif num_t is uint16_t:
        sp_wincl_uint16_t(xp, toffs, tkeys, ntaps, C, yo, ko)
    elif num_t is uint32_t:
        sp_wincl_uint32_t(xp, toffs, tkeys, ntaps, C, yo, ko)
    else:
        sp_wincl_uint64_t(xp, toffs, tkeys, ntaps, C, yo, ko)


cdef inline void _colmax2(const num_t* blk, const Py_ssize_t* offs, const int32_t* keys, Py_ssize_t nr,
                          Py_ssize_t c0, Py_ssize_t kshift, Py_ssize_t npairs, num_t* ev, num_t* od, int32_t* ek,
                          int32_t* ok) noexcept nogil:
    """_colmax over npairs * 2 * SP_LANES columns, stored split: even columns in ev, odd in od."""
    if num_t is float:
        sp_colmax2_float(blk, offs, keys, nr, c0, kshift, npairs, ev, od, ek, ok)
    elif num_t is double:
        sp_colmax2_double(blk, offs, keys, nr, c0, kshift, npairs, ev, od, ek, ok)
    elif num_t is int8_t:
        sp_colmax2_int8_t(blk, offs, keys, nr, c0, kshift, npairs, ev, od, ek, ok)
    elif num_t is int16_t:
        sp_colmax2_int16_t(blk, offs, keys, nr, c0, kshift, npairs, ev, od, ek, ok)
    elif num_t is int32_t:
        sp_colmax2_int32_t(blk, offs, keys, nr, c0, kshift, npairs, ev, od, ek, ok)
    elif num_t is int64_t:
        sp_colmax2_int64_t(blk, offs, keys, nr, c0, kshift, npairs, ev, od, ek, ok)
    elif num_t is uint8_t:
        sp_colmax2_uint8_t(blk, offs, keys, nr, c0, kshift, npairs, ev, od, ek, ok)
    elif num_t is uint16_t:
        sp_colmax2_uint16_t(blk, offs, keys, nr, c0, kshift, npairs, ev, od, ek, ok)
    elif num_t is uint32_t:
        sp_colmax2_uint32_t(blk, offs, keys, nr, c0, kshift, npairs, ev, od, ek, ok)
    else:
        sp_colmax2_uint64_t(blk, offs, keys, nr, c0, kshift, npairs, ev, od, ek, ok)


cdef inline void _winsum(const num_t* pv, const Py_ssize_t* toff, const Py_ssize_t* soff, Py_ssize_t ns,
                         Py_ssize_t kw, Py_ssize_t n, real_t* ov) noexcept nogil:
    """For windows q in [0, n): the sum of pv[soff[m] + toff[j] + q] over slots m < ns, then taps j < kw, in that
    order, in real_t."""
    if num_t is float:
        if real_t is float:
            sp_winsum_float_float(pv, toff, soff, ns, kw, n, ov)
        else:
            sp_winsum_float_double(pv, toff, soff, ns, kw, n, ov)
    elif num_t is double:
        if real_t is float:
            sp_winsum_double_float(pv, toff, soff, ns, kw, n, ov)
        else:
            sp_winsum_double_double(pv, toff, soff, ns, kw, n, ov)
    elif num_t is int8_t:
        if real_t is float:
            sp_winsum_int8_t_float(pv, toff, soff, ns, kw, n, ov)
        else:
            sp_winsum_int8_t_double(pv, toff, soff, ns, kw, n, ov)
    elif num_t is int16_t:
        if real_t is float:
            sp_winsum_int16_t_float(pv, toff, soff, ns, kw, n, ov)
        else:
            sp_winsum_int16_t_double(pv, toff, soff, ns, kw, n, ov)
    elif num_t is int32_t:
        if real_t is float:
            sp_winsum_int32_t_float(pv, toff, soff, ns, kw, n, ov)
        else:
            sp_winsum_int32_t_double(pv, toff, soff, ns, kw, n, ov)
    elif num_t is int64_t:
        if real_t is float:
            sp_winsum_int64_t_float(pv, toff, soff, ns, kw, n, ov)
        else:
            sp_winsum_int64_t_double(pv, toff, soff, ns, kw, n, ov)
    elif num_t is uint8_t:
        if real_t is float:
            sp_winsum_uint8_t_float(pv, toff, soff, ns, kw, n, ov)
        else:
            sp_winsum_uint8_t_double(pv, toff, soff, ns, kw, n, ov)
    elif num_t is uint16_t:
        if real_t is float:
            sp_winsum_uint16_t_float(pv, toff, soff, ns, kw, n, ov)
        else:
            sp_winsum_uint16_t_double(pv, toff, soff, ns, kw, n, ov)
    elif num_t is uint32_t:
        if real_t is float:
            sp_winsum_uint32_t_float(pv, toff, soff, ns, kw, n, ov)
        else:
            sp_winsum_uint32_t_double(pv, toff, soff, ns, kw, n, ov)
    else:
        if real_t is float:
            sp_winsum_uint64_t_float(pv, toff, soff, ns, kw, n, ov)
        else:
            sp_winsum_uint64_t_double(pv, toff, soff, ns, kw, n, ov)


cdef inline void _winfirst(const num_t* pv, const Py_ssize_t* toff, Py_ssize_t kw, Py_ssize_t n, num_t* ov,
                           int32_t* oj) noexcept nogil:
    if num_t is float:
        sp_winfirst_float(pv, toff, kw, n, ov, oj)
    elif num_t is double:
        sp_winfirst_double(pv, toff, kw, n, ov, oj)
    elif num_t is int8_t:
        sp_winfirst_int8_t(pv, toff, kw, n, ov, oj)
    elif num_t is int16_t:
        sp_winfirst_int16_t(pv, toff, kw, n, ov, oj)
    elif num_t is int32_t:
        sp_winfirst_int32_t(pv, toff, kw, n, ov, oj)
    elif num_t is int64_t:
        sp_winfirst_int64_t(pv, toff, kw, n, ov, oj)
    elif num_t is uint8_t:
        sp_winfirst_uint8_t(pv, toff, kw, n, ov, oj)
    elif num_t is uint16_t:
        sp_winfirst_uint16_t(pv, toff, kw, n, ov, oj)
    elif num_t is uint32_t:
        sp_winfirst_uint32_t(pv, toff, kw, n, ov, oj)
    else:
        sp_winfirst_uint64_t(pv, toff, kw, n, ov, oj)


cdef inline void _winmax(const num_t* pv, const int32_t* pk, const Py_ssize_t* toff, Py_ssize_t kw, Py_ssize_t n,
                         num_t* ov, int32_t* ok) noexcept nogil:
    if num_t is float:
        sp_winmax_float(pv, pk, toff, kw, n, ov, ok)
    elif num_t is double:
        sp_winmax_double(pv, pk, toff, kw, n, ov, ok)
    elif num_t is int8_t:
        sp_winmax_int8_t(pv, pk, toff, kw, n, ov, ok)
    elif num_t is int16_t:
        sp_winmax_int16_t(pv, pk, toff, kw, n, ov, ok)
    elif num_t is int32_t:
        sp_winmax_int32_t(pv, pk, toff, kw, n, ov, ok)
    elif num_t is int64_t:
        sp_winmax_int64_t(pv, pk, toff, kw, n, ov, ok)
    elif num_t is uint8_t:
        sp_winmax_uint8_t(pv, pk, toff, kw, n, ov, ok)
    elif num_t is uint16_t:
        sp_winmax_uint16_t(pv, pk, toff, kw, n, ov, ok)
    elif num_t is uint32_t:
        sp_winmax_uint32_t(pv, pk, toff, kw, n, ov, ok)
    else:
        sp_winmax_uint64_t(pv, pk, toff, kw, n, ov, ok)


cdef inline num_t _lowest(num_t like) noexcept nogil:
    """The value padding stands for in max pooling: -inf, or the integer type's minimum."""
    if num_t is float or num_t is double:
        return -INFINITY
    elif num_t is int8_t:
        return -128
    elif num_t is int16_t:
        return -32768
    elif num_t is int32_t:
        return -2147483647 - 1
    elif num_t is int64_t:
        return -9223372036854775807 - 1
    else:
        return 0


cdef struct Batch:
    # the layout of a batched planar pooling (see _batch_plan); per thread, scratch of `cells` cells per slot
    Py_ssize_t seg, nseg             # windows per segment of an output row (all but the last: seg), segments
    Py_ssize_t OWp, Wp, ncol, RB, cells, span, ext, hn
    Py_ssize_t nr_max                # longest tap-row list
    Py_ssize_t off_lo, off_hi        # the lowest first and the highest last tap-row offset of any output row
    Py_ssize_t slots                 # cell rows per item: 1 (max: column maxima), nr_max (average: the rows)
    bint avg                         # average pooling (else max)
    bint keyed                       # keys decide ties (else the taps are in row-major order as read)
    const Py_ssize_t* nr             # per output row (od, oh) of a block: its number of tap rows,
    const Py_ssize_t* offs           # their offsets in the block (nr_max each)
    const int32_t* keys              # and their key bases
    Py_ssize_t toff[256]             # per window tap: its phase and offset in the split cells


cdef enum:
    BATCH_BYTES = 24576              # scratch of one batch, about: rows of cells stay in L1 / L2
    SEGMENT = 1024                   # windows of a scratch row at most (longer output rows are segmented)
    TABLE_STACK = 1024               # the tap-row table and
    SCRATCH_STACK = 2048             # the scratch of a small call live on the stack (8-byte units)


cdef inline bint _batchable(const Dims* g) noexcept nogil:
    """Planar, regular windows along W, positions that fit an int32 key, rows of cells of a sane length
    (gigantic strides and dilations take the window-by-window path)."""
    return (g.C == 1 and 0 < g.sw <= 64 and g.kw <= 256 and (g.kw - 1) * g.dw < 4096
            and g.D * g.H * g.W < 2147483647 - 4 * COLS_MAX_W)


cdef size_t _batch_plan(Batch* p, const Dims* g, Py_ssize_t itemsize, Py_ssize_t outsize) noexcept nogil:
    """Windows per segment, cells per scratch row, windows per row (with the extra ones), items per batch, the
    tap offsets (p.keyed and p.slots set); returns the bytes of scratch a thread needs."""
    cdef Py_ssize_t j, c, reach = (g.kw - 1) * g.dw + 1  # columns one window reads
    cdef Py_ssize_t bytes_per = p.slots * itemsize + (4 if p.keyed else 0)
    p.seg = min(g.OW, SEGMENT)
    p.nseg = (g.OW + p.seg - 1) // p.seg
    p.OWp = p.seg
    while p.OWp * g.sw < (p.seg - 1) * g.sw + reach:
        p.OWp += 1
    p.Wp = p.OWp * g.sw
    # columns the vector steps compute per row (in pairs of vectors with sw == 2: split as they are stored)
    p.ncol = (p.Wp + 2 * SP_LANES - 1) // (2 * SP_LANES) * 2 * SP_LANES if g.sw == 2 else \
        (p.Wp + SP_LANES - 1) // SP_LANES * SP_LANES
    p.RB = max(1, min(g.B * g.OD * g.OH * p.nseg, BATCH_BYTES // ((p.Wp * 2 + p.OWp) * bytes_per)))
    p.ext = (reach - 1) // g.sw + 1  # phase cells a window reads past its start
    p.span = p.RB * p.OWp + p.ext + SP_LANES  # cells of one phase
    p.cells = (p.RB * p.Wp + p.ncol + g.sw * (p.ext + SP_LANES) + 15) // 16 * 16  # (keeps every part aligned)
    p.hn = (p.RB * p.OWp + SP_LANES + 15) // 16 * 16  # cells of one batch's windows
    for j in range(g.kw):
        c = j * g.dw
        p.toff[j] = (c % g.sw) * p.span + c // g.sw if g.sw > 1 else c
    # per slot: cells and the cells split by phase, with their keys; a batch's windows: values and keys (or
    # taps), and (average) their divisors
    return (2 * p.cells * p.slots * itemsize + 2 * p.cells * (4 if p.keyed else 0)
            + p.hn * (2 * outsize + 4) + 64)


cdef int _batch_rows(Batch* p, const Dims* g, char* stack, size_t stack_bytes, char** table) noexcept nogil:
    """The tap rows of every output row (od, oh), shared by all blocks and threads: in `stack` when they fit,
    else in memory the caller frees (*table != stack). Returns 1 when memory ran out."""
    cdef Py_ssize_t per = g.OD * g.OH, nr_max = g.kd * g.kh, q, m, nr
    cdef size_t nbytes = per * nr_max * (2 * sizeof(Py_ssize_t) + sizeof(int32_t)) + per * sizeof(Py_ssize_t)
    cdef Py_ssize_t* rows
    cdef Py_ssize_t* taps
    cdef Py_ssize_t* counts
    cdef int32_t* keys
    table[0] = stack if nbytes <= stack_bytes else <char*>malloc(nbytes)
    if table[0] == NULL:
        return 1
    rows = <Py_ssize_t*>table[0]
    taps = rows + per * nr_max
    counts = taps + per * nr_max
    keys = <int32_t*>(counts + per)
    p.off_lo = g.D * g.H * g.W
    p.off_hi = 0
    for q in range(per):
        nr = _rows(g, q // g.OH, q % g.OH, rows + q * nr_max, taps + q * nr_max)
        counts[q] = nr
        if nr:  # (a later output row's windows may end higher up: rows clipped by the input's end)
            p.off_lo = min(p.off_lo, rows[q * nr_max])
            p.off_hi = max(p.off_hi, rows[q * nr_max + nr - 1])
        for m in range(nr):  # the flat position in the block (row offset + column)
            keys[q * nr_max + m] = <int32_t>rows[q * nr_max + m]
    p.nr, p.offs, p.keys, p.nr_max = counts, rows, keys, nr_max
    return 0


cdef inline bint _batch_safe(const Dims* g, const Batch* p, Py_ssize_t u0, Py_ssize_t u1) noexcept nogil:
    """Whole vectors read columns [s0, s0 + ncol) of every tap row of items [u0, u1): inside the input? Bounds
    over every output row and segment of the blocks the items span (the last item need not read the highest
    row: with dilation, an earlier output row's window can reach rows a later, clipped one does not)."""
    cdef Py_ssize_t per = g.OD * g.OH, block = g.D * g.H * g.W
    cdef Py_ssize_t r = u0 // p.nseg, rl = (u1 - 1) // p.nseg
    return ((r // per) * block + p.off_lo + g.wt[0] >= 0
            and (rl // per) * block + p.off_hi + g.wt[(p.nseg - 1) * p.seg] + p.ncol <= g.B * block)


cdef inline void _fill_cells(const num_t* blk, const Py_ssize_t* offs, const int32_t* keys, Py_ssize_t nr,
                             Py_ssize_t s0, Py_ssize_t kshift, const Dims* g, const Batch* p, Py_ssize_t t,
                             bint safe, num_t pad, num_t* cv, int32_t* ck, num_t* sv, int32_t* sk) noexcept nogil:
    """Item t's row of cells from its nr input rows (blk + offs[m]) at columns s0 + [0, Wp): the first maximum
    of each column over the rows (nr == 1: the row itself) and its key (ck, sk NULL: none), `pad` and
    SP_KEY_PAD outside the input. Into cv, ck; with stride 2 (when safe) straight into the cells split by
    phase, sv, sk."""
    cdef Py_ssize_t c, Wp = p.Wp, OWp = p.OWp, span = p.span
    cdef Py_ssize_t lo = min(Wp, max(0, -s0)), hi = min(Wp, max(0, g.W - s0))  # cells [lo, hi): the input
    if g.sw == 2 and safe:
        _colmax2(blk, offs, keys, nr, s0, kshift, p.ncol // (2 * SP_LANES), sv + t * OWp, sv + span + t * OWp,
                 sk + t * OWp if sk != NULL else NULL, sk + span + t * OWp if sk != NULL else NULL)
        if lo > 0 or hi < Wp:
            _pad_split(sv + t * OWp, sk + t * OWp if sk != NULL else NULL, span, lo, hi, Wp, pad)
        return
    cv = cv + t * Wp
    ck = ck + t * Wp if ck != NULL else NULL
    if safe:
        _colmax(blk, offs, keys, nr, s0, kshift, Wp, cv, ck, False)
    elif hi > lo:  # exactly the columns inside the input
        _colmax(blk, offs, keys, nr, s0 + lo, kshift, hi - lo, cv + lo, ck + lo if ck != NULL else NULL, True)
    for c in range(lo):
        cv[c] = pad
    for c in range(hi, Wp):
        cv[c] = pad
    if ck != NULL:
        for c in range(lo):
            ck[c] = SP_KEY_PAD
        for c in range(hi, Wp):
            ck[c] = SP_KEY_PAD


cdef void _pad_split(num_t* sv, int32_t* sk, Py_ssize_t span, Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t Wp,
                     num_t pad) noexcept nogil:
    """Padding cells [0, lo) and [hi, Wp) of a row of cells split by phase (cell c: phase c % 2, index c // 2)."""
    cdef Py_ssize_t c
    for c in range(lo):
        sv[(c % 2) * span + c // 2] = pad
    for c in range(hi, Wp):
        sv[(c % 2) * span + c // 2] = pad
    if sk != NULL:
        for c in range(lo):
            sk[(c % 2) * span + c // 2] = SP_KEY_PAD
        for c in range(hi, Wp):
            sk[(c % 2) * span + c // 2] = SP_KEY_PAD


cdef inline void _split_cells(const Dims* g, const Batch* p, Py_ssize_t n, num_t* cv, int32_t* ck, num_t* sv,
                              int32_t* sk) noexcept nogil:
    """The cells of n items (cv, ck) split by phase into sv, sk: phase f holds cells f, f + sw, ... (span apart)."""
    cdef Py_ssize_t i, f, sw = g.sw, span = p.span, m = n * p.OWp + p.ext
    if sw == 2:
        for i in range(m):
            sv[i] = cv[2 * i]
            sv[span + i] = cv[2 * i + 1]
        if ck != NULL:
            for i in range(m):
                sk[i] = ck[2 * i]
                sk[span + i] = ck[2 * i + 1]
        return
    for f in range(sw):
        for i in range(m):
            sv[f * span + i] = cv[i * sw + f]
        if ck != NULL:
            for i in range(m):
                sk[f * span + i] = ck[i * sw + f]


cdef int _batched_run(const num_t* xp, void* yp, int64_t* ip, const Dims* g, Batch* p,
                      bint count_include_pad, Py_ssize_t divisor_override, bint dbl, int num_threads) noexcept nogil:
    """Items in batches over the threads: max (p.slots == 1) or average (into float, or double with dbl).
    Returns 1 when memory ran out, else 0."""
    cdef Py_ssize_t items, u, nb
    cdef double table_stack[TABLE_STACK]
    cdef double scratch_stack[SCRATCH_STACK]
    cdef char* table = NULL
    cdef char* scratch = NULL
    cdef size_t per_thread = _batch_plan(p, g, sizeof(num_t), sizeof(double) if dbl else sizeof(float))
    cdef int failed[1]
    failed[0] = 0
    items = g.B * g.OD * g.OH * p.nseg
    if _batch_rows(p, g, <char*>table_stack, sizeof(table_stack), &table):
        return 1
    nb = (items + p.RB - 1) // p.RB
    if num_threads <= 1 or nb == 1:
        scratch = <char*>scratch_stack if per_thread <= sizeof(scratch_stack) else <char*>malloc(per_thread)
        if scratch == NULL:
            failed[0] = 1
        else:
            memset(scratch, 0, per_thread)  # junk windows read cells no row wrote: defined values
            for u in range(nb):
                _batch(xp, yp, ip, g, p, u * p.RB, min(items, u * p.RB + p.RB), scratch, count_include_pad,
                       divisor_override, dbl)
            if scratch != <char*>scratch_stack:
                free(scratch)
    else:
        with parallel(num_threads=num_threads):
            scratch = <char*>calloc(per_thread, 1)
            if scratch == NULL:
                failed[0] = 1
            for u in prange(nb, schedule="static"):
                if scratch != NULL:
                    _batch(xp, yp, ip, g, p, u * p.RB, min(items, u * p.RB + p.RB), scratch,
                           count_include_pad, divisor_override, dbl)
            free(scratch)
    if table != <char*>table_stack:
        free(table)
    return failed[0]


cdef int _max_batched(const num_t* xp, num_t* yp, int64_t* ip, const Dims* g,
                      int num_threads) noexcept nogil:
    """Max pooling by batches of output rows (see above); returns 1 when memory ran out, else 0."""
    cdef Batch p
    cdef Py_ssize_t nr_max = g.kd * g.kh
    cdef bint index = ip != NULL
    # keys are needed where maxima of different input rows meet: several tap rows, unless only values are
    # asked for and equal values cannot differ (integers; -0.0 and NaN payloads can); and for an index where
    # windows reach padding (a padding cell must never be the maximum's tap, even when tied)
    p.keyed = ((nr_max > 1 and (index or num_t is float or num_t is double))
               or (index and (g.wt[0] < 0 or g.wt[0] + (g.OW - 1) * g.sw + (g.kw - 1) * g.dw >= g.W)))
    p.slots = 1
    p.avg = False
    return _batched_run(xp, yp, ip, g, &p, False, 0, sizeof(num_t) == 8, num_threads)


cdef int _avg_batched(const num_t* xp, real_t* yp, const Dims* g, bint count_include_pad,
                      Py_ssize_t divisor_override, int num_threads) noexcept nogil:
    """Planar average pooling by batches of output rows: each item's tap rows as rows of cells (zeros outside the
    input), then every window's taps summed in row-major order, as the reference sums them."""
    cdef Batch p
    p.keyed = False
    p.slots = g.kd * g.kh
    p.avg = True
    return _batched_run(xp, yp, NULL, g, &p, count_include_pad, divisor_override, real_t is double,
                        num_threads)


cdef void _batch(const num_t* xp, void* out, int64_t* ip, const Dims* g, const Batch* p,
                 Py_ssize_t u0, Py_ssize_t u1, char* scratch, bint count_include_pad, Py_ssize_t divisor_override,
                 bint dbl) noexcept nogil:
    """Items [u0, u1) of all B * OD * OH * nseg: item u is segment u % nseg of output row u // nseg."""
    cdef Py_ssize_t n = u1 - u0, per = g.OD * g.OH, block = g.D * g.H * g.W, nseg = p.nseg, nr_max = p.nr_max
    cdef Py_ssize_t seg = p.seg, OWp = p.OWp, OW = g.OW, sw = g.sw, cells = p.cells, slots = p.slots
    cdef Py_ssize_t r = u0 // nseg, sg = u0 % nseg, b = r // per, q = r % per
    cdef Py_ssize_t t, m, i, ns, s0, at, nq = n * OWp, rdiv, last_rdiv = -1, last_sg = -1
    cdef bint keyed = p.keyed, avg = p.avg, safe = _batch_safe(g, p, u0, u1)
    cdef bint direct = not avg and nseg == 1 and OWp == OW  # the batch's windows are its rows' windows
    cdef num_t* cv = <num_t*>scratch             # per slot: cells, then the split cells
    cdef int32_t* ck = <int32_t*>(cv + 2 * cells * slots)
    cdef int32_t* sk = ck + cells
    cdef char* after = <char*>(sk + cells) if keyed else <char*>ck
    cdef int32_t* hk = <int32_t*>after           # the batch's windows: keys (or taps),
    cdef num_t* hv = <num_t*>(hk + p.hn)         # values (max) or sums (average, float or double),
    cdef float* hf = <float*>hv
    cdef double* hd = <double*>hv
    cdef float* df = hf + p.hn                   # and divisors
    cdef double* dd = hd + p.hn
    cdef num_t* yp = <num_t*>out
    cdef num_t low = _lowest(<num_t>0)
    cdef Py_ssize_t soff[256]
    cdef Py_ssize_t npairs = p.ncol // (2 * SP_LANES)
    cdef Py_ssize_t lo, hi, Wp = p.Wp, span = p.span
    if not avg and sw == 2 and safe:  # the hot loop of max pooling: a few vector steps per row
        for t in range(n):
            s0 = g.wt[sg * seg]
            _colmax2(xp + b * block, p.offs + q * nr_max, p.keys + q * nr_max, p.nr[q], s0,
                     0, npairs, cv + cells + t * OWp, cv + cells + span + t * OWp,
                     sk + t * OWp if keyed else NULL, sk + span + t * OWp if keyed else NULL)
            lo = min(Wp, max(0, -s0))
            hi = min(Wp, max(0, g.W - s0))
            if lo > 0 or hi < Wp:
                _pad_split(cv + cells + t * OWp, sk + t * OWp if keyed else NULL, span, lo, hi, Wp, low)
            sg += 1
            if sg == nseg:
                sg = 0
                q += 1
                if q == per:
                    q = 0
                    b += 1
    else:
        for t in range(n):
            s0 = g.wt[sg * seg]                  # the segment's first column (negative: padding)
            if not avg:
                _fill_cells(xp + b * block, p.offs + q * nr_max, p.keys + q * nr_max, p.nr[q], s0,
                            0, g, p, t, safe, low, cv, ck if keyed else NULL,
                            cv + cells, sk if keyed else NULL)
            else:  # one slot per tap row; a missing one (padding) holds zeros, which add nothing
                for m in range(slots):
                    if m < p.nr[q]:
                        _fill_cells(xp + b * block, p.offs + q * nr_max + m, p.keys, 1, s0, 0, g, p, t, safe, 0,
                                    cv + 2 * m * cells, NULL, cv + (2 * m + 1) * cells, NULL)
                    elif sw == 2 and safe:
                        for i in range(OWp):
                            cv[(2 * m + 1) * cells + t * OWp + i] = 0
                            cv[(2 * m + 1) * cells + span + t * OWp + i] = 0
                    else:
                        for i in range(Wp):
                            cv[2 * m * cells + t * Wp + i] = 0
            sg += 1
            if sg == nseg:
                sg = 0
                q += 1
                if q == per:
                    q = 0
                    b += 1
        if sw > 2 or (sw == 2 and not safe):
            for m in range(slots):
                _split_cells(g, p, n, cv + 2 * m * cells, ck if keyed else NULL, cv + (2 * m + 1) * cells,
                             sk if keyed else NULL)
    for m in range(slots):
        soff[m] = (2 * m + (1 if sw > 1 else 0)) * cells
    # every window of the batch: straight into the output when its windows are the rows' windows
    if avg:
        if dbl:
            _winsum(cv, p.toff, soff, slots, g.kw, nq, hd)
        else:
            _winsum(cv, p.toff, soff, slots, g.kw, nq, hf)
    elif keyed:
        _winmax(cv + soff[0], sk if sw > 1 else ck, p.toff, g.kw, nq, yp + u0 * OW if direct else hv, hk)
    else:  # hk: the window tap of each maximum, if an index is asked for
        _winfirst(cv + soff[0], p.toff, g.kw, nq, yp + u0 * OW if direct else hv,
                  hk if ip != NULL else NULL)
    if direct and keyed and ip != NULL:  # keys are the positions
        for i in range(nq):
            ip[u0 * OW + i] = hk[i]
        return
    if direct and ip == NULL:
        return
    # each item's windows to the output, with the index of each maximum or divided by the divisors
    r = u0 // nseg
    sg = u0 % nseg
    q = r % per
    for t in range(n):
        ns = min(seg, OW - sg * seg)  # windows of this segment
        at = r * OW + sg * seg        # its first output element
        s0 = g.wt[sg * seg]
        if avg:  # divisors of a segment's windows: one row of them per distinct row divisor and segment
            rdiv = _row_divisor(g, q // g.OH, q % g.OH, count_include_pad)
            if rdiv != last_rdiv or sg != last_sg:
                last_rdiv, last_sg = rdiv, sg
                for i in range(ns):
                    if dbl:
                        dd[i] = <double>_divisor(g, rdiv, sg * seg + i, count_include_pad, divisor_override)
                    else:
                        df[i] = <float>_divisor(g, rdiv, sg * seg + i, count_include_pad, divisor_override)
            if dbl:
                for i in range(ns):
                    (<double*>out)[at + i] = hd[t * OWp + i] / dd[i]
            else:
                for i in range(ns):
                    (<float*>out)[at + i] = hf[t * OWp + i] / df[i]
        elif not direct:
            for i in range(ns):
                yp[at + i] = hv[t * OWp + i]
        if keyed and ip != NULL:  # keys are the positions
            for i in range(ns):
                ip[at + i] = hk[t * OWp + i]
        elif ip != NULL:  # one tap row per output row: hk holds the tap j
            for i in range(ns):
                ip[at + i] = p.offs[q * nr_max] + s0 + i * sw + hk[t * OWp + i] * g.dw
        sg += 1
        if sg == nseg:
            sg = 0
            r += 1
            q = r % per

def max_pool(const num_t[::1] x not None, num_t[::1] y not None, idx, const int64_t[:, :, ::1] tab not None,
             tuple dims, int num_threads):
    """y, idx (B, OD, OH, OW, C) <- max over the windows of x (B, D, H, W, C). idx may be None or an int64
    buffer (flat positions of the maxima in their block)."""
    cdef Dims g
    cdef int64_t[::1] i64
    cdef int64_t* ip = NULL
    _set_dims(&g, dims, tab, x.shape[0], y.shape[0], True)
    if idx is not None:
        if len(idx) != y.shape[0]:
            raise ValueError("idx must have the length of y")
        i64 = idx
        ip = &i64[0] if i64.shape[0] else NULL
    if y.shape[0] == 0:
        return
    cdef int failed
    with nogil:  # other Python threads (dask's workers) run while the kernel does
        failed = _max_run(&x[0], &y[0], ip, &g, num_threads)
    if failed:
        raise MemoryError()


cdef int _max_run(const num_t* xp, num_t* yp, int64_t* ip, const Dims* g,
                  int num_threads) noexcept nogil:
    """Returns 1 when a thread could not get its scratch (nothing sensible was written), else 0."""
    cdef Py_ssize_t r, n = g.B * g.OD * g.OH
    cdef Py_ssize_t nr = g.kd * g.kh, nt = nr * g.kw
    # per thread: the rows and their tap-row numbers; a window's taps: offsets and positions (channels-last);
    # a row's column maxima (planar; values in 8-byte units: any num_t fits); then int32: the column maxima's
    # rows (planar), the taps' keys and C lanes of keys (channels-last)
    cdef Py_ssize_t cols = g.W + 1 if g.C == 1 and g.W <= COLS_MAX_W else 0
    cdef Py_ssize_t head = 2 * nr + 2 * nt + cols
    cdef size_t scratch = head * sizeof(Py_ssize_t) + (cols + nt + g.C) * sizeof(int32_t)
    cdef Py_ssize_t* rows = NULL
    cdef int failed[1]
    failed[0] = 0
    if _global(g):
        _global_max(xp, yp, ip, g.B, g.D * g.H * g.W, num_threads)
        return 0
    if _batchable(g):
        return _max_batched(xp, yp, ip, g, num_threads)
    if num_threads <= 1:  # no parallel region at all: small calls pay nothing for OpenMP
        rows = <Py_ssize_t*>malloc(scratch)
        if rows == NULL:
            return 1
        for r in range(n):
            _max_row(xp, yp, ip, rows, head, g, r)
        free(rows)
        return 0
    with parallel(num_threads=num_threads):
        rows = <Py_ssize_t*>malloc(scratch)
        if rows == NULL:
            failed[0] = 1
        for r in prange(n, schedule="static"):
            if rows != NULL:
                _max_row(xp, yp, ip, rows, head, g, r)
        free(rows)
    return failed[0]


cdef inline void _max_row(const num_t* xp, num_t* yp, int64_t* ip, Py_ssize_t* rows,
                          Py_ssize_t head, const Dims* g, Py_ssize_t r) noexcept nogil:
    """Output row r of all B * OD * OH rows (the paths _max_batched does not take: channels-last, and planar
    rows of irregular (adaptive) or gigantic windows along W), in the scratch _max_run lays out."""
    cdef Py_ssize_t per = g.OD * g.OH, nr = g.kd * g.kh, nt = nr * g.kw
    cdef Py_ssize_t b = r // per, q = r % per
    cdef Py_ssize_t* trow = rows + nr
    cdef Py_ssize_t nrows = _rows(g, q // g.OH, q % g.OH, rows, trow)
    cdef Py_ssize_t block = g.D * g.H * g.W * g.C
    cdef Py_ssize_t at = r * g.OW * g.C
    cdef int32_t* lanes = <int32_t*>(rows + head)
    cdef Index out
    out.pos = ip + at if ip != NULL else NULL
    out.toffs = trow + nr
    out.tpos = out.toffs + nt
    out.cols = <void*>(out.tpos + nt)
    out.any = ip != NULL
    xp = xp + b * block
    yp = yp + at
    if g.C > 1:
        out.tkeys = lanes
        _max_row_last(xp, yp, &out, lanes + nt, rows, nrows, g)
    else:
        _max_row_planar(xp, yp, &out, lanes, rows, nrows, g)


cdef inline void _put_index(const Index* out, Py_ssize_t at, Py_ssize_t pos) noexcept nogil:
    if out.pos != NULL:
        out.pos[at] = pos


cdef inline void _max_window(const num_t* xp, num_t* yp, const Index* out, const Py_ssize_t* rows,
                             Py_ssize_t nrows, Py_ssize_t cs, Py_ssize_t c0, Py_ssize_t c1, Py_ssize_t kw,
                             Py_ssize_t dw, Py_ssize_t ow) noexcept nogil:
    """One window of a block, tap by tap in row-major order."""
    cdef Py_ssize_t m, j, pos
    cdef Py_ssize_t bi = rows[0] + cs + c0 * dw
    cdef num_t v, best = xp[bi]
    cdef bint take
    for m in range(nrows):
        for j in range(c0, c1):
            pos = rows[m] + cs + j * dw
            v = xp[pos]
            take = _takes(v, best)
            best = v if take else best
            bi = pos if take else bi
    yp[ow] = best
    _put_index(out, ow, bi)


cdef inline void _max_row_planar(const num_t* xp, num_t* yp, const Index* out, int32_t* cm,
                                 const Py_ssize_t* rows, Py_ssize_t nrows, const Dims* g) noexcept nogil:
    """One output row of a block, window by window: from the column maxima of its input rows (the whole row,
    vectorised) where windows have many taps (adaptive windows), else tap by tap."""
    cdef const int64_t* ct = g.wt
    cdef Py_ssize_t L = g.L, ow
    cdef num_t* cv = <num_t*>out.cols
    if nrows >= 2 and nrows * g.kw >= 16 and g.W <= COLS_MAX_W:
        _col_maxima(xp, rows, nrows, g.W, cv, cm)
        for ow in range(g.OW):
            _max_window_cols(cv, cm, yp, out, rows, ct[ow], ct[L + ow], ct[2 * L + ow], g.kw, g.dw, ow)
    else:
        for ow in range(g.OW):
            _max_window(xp, yp, out, rows, nrows, ct[ow], ct[L + ow], ct[2 * L + ow], g.kw, g.dw, ow)


cdef void _col_maxima(const num_t* xp, const Py_ssize_t* rows, Py_ssize_t nrows, Py_ssize_t W, num_t* cv,
                      int32_t* cm) noexcept nogil:
    """cv[c], cm[c] <- the maximum of column c over the nrows input rows, and the first row m holding it (the
    rule of _takes, rows in order), for the W columns of the rows: contiguous and vectorised."""
    cdef Py_ssize_t c, m
    cdef const num_t* src = xp + rows[0]
    cdef num_t v, best
    cdef int32_t mm
    cdef bint take
    for c in range(W):
        cv[c] = src[c]
    for c in range(W):
        cm[c] = 0
    for m in range(1, nrows):
        src = xp + rows[m]
        mm = <int32_t>m
        for c in range(W):
            v = src[c]
            best = cv[c]
            take = _takes(v, best)
            cv[c] = v if take else best
            cm[c] = mm if take else cm[c]


cdef inline bint _takes_later(num_t v, num_t best, bint before) noexcept nogil:
    """Column maxima v (tap earlier in row-major order than the best's when ``before``) replaces the running
    maximum best of a window: the best is a NaN, and only an earlier NaN replaces it; else a NaN, a greater
    value, or an equal value at an earlier tap does. The row-major scan's first maximum, NaNs included."""
    return (((best != best) & (v != v) & before)
            | ((best == best) & ((v != v) | (v > best) | ((v == best) & before))))


cdef inline void _max_window_cols(const num_t* cv, const int32_t* cm, num_t* yp, const Index* out,
                                  const Py_ssize_t* rows, Py_ssize_t cs, Py_ssize_t c0, Py_ssize_t c1,
                                  Py_ssize_t kw, Py_ssize_t dw, Py_ssize_t ow) noexcept nogil:
    """One (border) window from the column maxima: its input columns c0 <= j < c1, as _max_window gives it."""
    cdef Py_ssize_t j, col = cs + c0 * dw, t, bt = cm[cs + c0 * dw] * kw + c0, m
    cdef num_t v, best = cv[col]
    cdef bint take
    for j in range(c0 + 1, c1):
        col = cs + j * dw
        v = cv[col]
        t = cm[col] * kw + j
        take = _takes_later(v, best, t < bt)
        best = v if take else best
        bt = t if take else bt
    yp[ow] = best
    if out.any:
        m = bt // kw
        _put_index(out, ow, rows[m] + cs + (bt - m * kw) * dw)


cdef inline void _max_row_last(const num_t* xp, num_t* yp, const Index* out, int32_t* ko, const Py_ssize_t* rows,
                               Py_ssize_t nrows, const Dims* g) noexcept nogil:
    """One output row, channels-last: window by window, its taps in row-major order, vectorised across the
    channels with the running maxima in registers (_vec.h). ko (C int32) gets each maximum's key: its position
    (blocks of fewer than 2**31 elements), else its ordinal in the window's taps."""
    cdef const int64_t* ct = g.wt
    cdef Py_ssize_t L = g.L, C = g.C, dw = g.dw, kw = g.kw
    cdef Py_ssize_t ow, m, j, c, cs, c0, c1, pos, n
    cdef bint small = g.D * g.H * g.W < 2147483647
    for ow in range(g.OW):
        cs = ct[ow]
        c0 = ct[L + ow]
        c1 = ct[2 * L + ow]
        n = 0
        for m in range(nrows):
            for j in range(c0, c1):
                pos = rows[m] + cs + j * dw
                out.toffs[n] = pos * C
                out.tpos[n] = pos
                out.tkeys[n] = <int32_t>(pos if small else n)
                n += 1
        _wincl(xp, out.toffs, out.tkeys, n, C, yp + ow * C, ko if out.any else NULL)
        if out.pos != NULL:
            if small:
                for c in range(C):
                    out.pos[ow * C + c] = ko[c]
            else:
                for c in range(C):
                    out.pos[ow * C + c] = out.tpos[ko[c]]


# ---------------------------------------------------------------------------------------- global pooling
#
# One window reading a whole contiguous block (adaptive pooling to size 1, a kernel the size of the input):
# eight blocks at a time, each still reduced element by element in memory order (the row-major tap order of
# every other path), so the eight independent chains keep the CPU busy and the results are the same bits.

cdef enum:
    GROUP = 8


cdef void _global_max(const num_t* xp, num_t* yp, int64_t* ip, Py_ssize_t P, Py_ssize_t S,
                      int num_threads) noexcept nogil:
    """Global max pooling of P blocks of S elements; the index of a maximum is its position in the block,
    which is also its window tap."""
    cdef Py_ssize_t u, groups = (P + GROUP - 1) // GROUP
    if num_threads <= 1:
        for u in range(groups):
            _global_max_group(xp, yp, ip, u * GROUP, min(P, u * GROUP + GROUP), S)
    else:
        for u in prange(groups, num_threads=num_threads, schedule="static"):
            _global_max_group(xp, yp, ip, u * GROUP, min(P, u * GROUP + GROUP), S)


cdef inline void _global_max_group(const num_t* xp, num_t* yp, int64_t* ip, Py_ssize_t p0,
                                   Py_ssize_t p1, Py_ssize_t S) noexcept nogil:
    cdef num_t best[GROUP]
    cdef Py_ssize_t at[GROUP]
    cdef Py_ssize_t q, t, p
    cdef num_t v
    cdef const num_t* src
    if p1 - p0 < GROUP:  # the last, partial group: block by block
        for p in range(p0, p1):
            src = xp + p * S
            best[0] = src[0]
            at[0] = 0
            for t in range(1, S):
                if _takes(src[t], best[0]):
                    best[0] = src[t]
                    at[0] = t
            yp[p] = best[0]
            if ip != NULL:
                ip[p] = at[0]
        return
    src = xp + p0 * S
    for q in range(GROUP):
        best[q] = src[q * S]
        at[q] = 0
    for t in range(1, S):
        for q in range(GROUP):
            v = src[q * S + t]
            if _takes(v, best[q]):
                best[q] = v
                at[q] = t
    for q in range(GROUP):
        yp[p0 + q] = best[q]
        if ip != NULL:
            ip[p0 + q] = at[q]


cdef void _global_avg(const num_t* xp, real_t* yp, Py_ssize_t P, Py_ssize_t S, real_t div,
                      int num_threads) noexcept nogil:
    cdef Py_ssize_t u, groups = (P + GROUP - 1) // GROUP
    if num_threads <= 1:
        for u in range(groups):
            _global_avg_group(xp, yp, u * GROUP, min(P, u * GROUP + GROUP), S, div)
    else:
        for u in prange(groups, num_threads=num_threads, schedule="static"):
            _global_avg_group(xp, yp, u * GROUP, min(P, u * GROUP + GROUP), S, div)


cdef inline void _global_avg_group(const num_t* xp, real_t* yp, Py_ssize_t p0, Py_ssize_t p1, Py_ssize_t S,
                                   real_t div) noexcept nogil:
    cdef real_t acc[GROUP]
    cdef Py_ssize_t q, t, p
    cdef const num_t* src
    if p1 - p0 < GROUP:
        for p in range(p0, p1):
            src = xp + p * S
            acc[0] = 0
            for t in range(S):
                acc[0] = acc[0] + <real_t>src[t]
            yp[p] = acc[0] / div
        return
    src = xp + p0 * S
    for q in range(GROUP):
        acc[q] = 0
    for t in range(S):
        for q in range(GROUP):
            acc[q] = acc[q] + <real_t>src[q * S + t]
    for q in range(GROUP):
        yp[p0 + q] = acc[q] / div


cdef void _global_avg_back(const num_t* gyp, real_t* gxp, Py_ssize_t P, Py_ssize_t S, real_t div,
                           int num_threads) noexcept nogil:
    """The gradient of global average pooling: every element of block p gets gy[p] / div, written once (added to
    a zero, as the scatter does: -0.0 becomes +0.0)."""
    cdef Py_ssize_t p
    if num_threads <= 1:
        for p in range(P):
            _fill(gxp + p * S, S, <real_t>0 + <real_t>gyp[p] / div)
    else:
        for p in prange(P, num_threads=num_threads, schedule="static"):
            _fill(gxp + p * S, S, <real_t>0 + <real_t>gyp[p] / div)


cdef inline void _fill(real_t* dst, Py_ssize_t n, real_t v) noexcept nogil:
    cdef Py_ssize_t t
    for t in range(n):
        dst[t] = v


# ------------------------------------------------------------------------- scatter by index (max backward)

def scatter(const num_t[::1] src not None, const int64_t[::1] idx not None, num_t[::1] dst not None,
            Py_ssize_t B, Py_ssize_t C, bint add, Py_ssize_t chunks, int num_threads):
    """dst (B, N, C) <- zeros, then dst[b, idx[b, k, c], c] += src[b, k, c] (add) or = src[b, k, c] (the last
    in row-major order wins), k in row-major order.

    Every index is checked against [0, N) before it is used; a unit (one b and one of `chunks` channel
    ranges) stops at a bad one and the call returns 1 (else 0): the caller then discards dst and names the
    bad index itself. Callers that pass their own `out` array check the indices first, so that nothing is
    written there.
    """
    if B < 1 or C < 1 or chunks < 1 or src.shape[0] % (B * C) or dst.shape[0] % (B * C) \
            or idx.shape[0] != src.shape[0]:
        raise ValueError("buffer lengths do not match B and C")
    if dst.shape[0] == 0:
        return 0
    if src.shape[0] == 0:
        memset(&dst[0], 0, dst.shape[0] * sizeof(num_t))
        return 0
    cdef int bad
    cdef Py_ssize_t N = dst.shape[0] // (B * C), K = src.shape[0] // (B * C)
    with nogil:
        bad = _scatter_run(&src[0], &idx[0], &dst[0], B, N, C, K, add, chunks, num_threads)
    return bad


cdef int _scatter_run(const num_t* gyp, const int64_t* ip, num_t* gxp, Py_ssize_t B, Py_ssize_t N,
                      Py_ssize_t C, Py_ssize_t K, bint add, Py_ssize_t chunks, int num_threads) noexcept nogil:
    cdef int bad[1]
    cdef Py_ssize_t u
    bad[0] = 0
    if num_threads <= 1:
        for u in range(B * chunks):
            _scatter_unit(gyp, ip, gxp, N, C, K, add, chunks, u, bad)
    else:
        for u in prange(B * chunks, num_threads=num_threads, schedule="static"):
            _scatter_unit(gyp, ip, gxp, N, C, K, add, chunks, u, bad)
    return bad[0]


cdef inline void _scatter_unit(const num_t* gyp, const int64_t* ip, num_t* gxp, Py_ssize_t N, Py_ssize_t C,
                               Py_ssize_t K, bint add, Py_ssize_t chunks, Py_ssize_t u, int* bad) noexcept nogil:
    cdef Py_ssize_t b = u // chunks
    if C == 1:
        _scatter_plane(gyp + b * K, ip + b * K, gxp + b * N, K, N, add, bad)
    else:
        _scatter_last(gyp + b * K * C, ip + b * K * C, gxp + b * N * C, K, N, C,
                      (u % chunks) * C // chunks, (u % chunks + 1) * C // chunks, add, bad)


cdef inline void _scatter_plane(const num_t* gy, const int64_t* idx, num_t* gx, Py_ssize_t n, Py_ssize_t N,
                                bint add, int* bad) noexcept nogil:
    cdef Py_ssize_t k
    cdef int64_t pos
    memset(gx, 0, N * sizeof(num_t))
    for k in range(n):
        pos = idx[k]
        if <uint64_t>pos >= <uint64_t>N:  # also catches negative positions; the caller discards gx
            bad[0] = 1
            return
        if add:
            gx[pos] += gy[k]
        else:
            gx[pos] = gy[k]


cdef enum:
    SCATTER_SMALL = 1048576          # channels-last blocks up to this many bytes (a core's L2 on Zen 4) are zeroed
                                     # before the scatter


cdef inline void _scatter_last(const num_t* gy, const int64_t* idx, num_t* gx, Py_ssize_t n, Py_ssize_t N,
                               Py_ssize_t C, Py_ssize_t c0, Py_ssize_t c1, bint add, int* bad) noexcept nogil:
    cdef Py_ssize_t k, c, done = 0
    cdef Py_ssize_t ahead = max(1, 16384 // (C * <Py_ssize_t>sizeof(num_t)))  # positions zeroed at a time
    cdef uint64_t top
    cdef const int64_t* ik
    cdef const num_t* gk
    # A block that stays in cache is zeroed at once, then each index is checked as it is used (no pass of its
    # own). Measured on (128, 7, 7, 256) k2 s2, 2 threads: the larger blocks' way below (a vector check pass
    # per position, then the scatter) took 13 % longer there, and zeroing and scattering the block in channel
    # ranges that stay in L1 10 % longer. Blocks up to 1 MiB go this way: on (8, 64, 64, 64) k3 s1 p1 (1 MiB
    # blocks) it took 5-10 % less time than the progressive zeroing below; on blocks of 1.6 and 3.2 MiB (VGG,
    # the ResNet stem) zeroing at once measured no faster.
    if N * C <= SCATTER_SMALL // <Py_ssize_t>sizeof(num_t):
        _zero_to(gx, 0, N, C, c0, c1)
        for k in range(n):
            ik = idx + k * C
            gk = gy + k * C
            for c in range(c0, c1):
                if <uint64_t>ik[c] >= <uint64_t>N:
                    bad[0] = 1
                    return
                if add:
                    gx[ik[c] * C + c] += gk[c]
                else:
                    gx[ik[c] * C + c] = gk[c]
        return
    for k in range(n):  # per output position: its channels' indices checked (and the highest found) in one
        ik = idx + k * C  # vector pass, then the scatter without a test per element
        gk = gy + k * C
        top = 0
        for c in range(c0, c1):
            top = max(top, <uint64_t>ik[c])  # a negative position is a huge one here
        if top >= <uint64_t>N:
            bad[0] = 1
            return
        if <Py_ssize_t>top >= done:
            done = _zero_to(gx, done, min(N, max(<Py_ssize_t>top + 1, done + ahead)), C, c0, c1)
        if add:
            for c in range(c0, c1):
                gx[ik[c] * C + c] += gk[c]
        else:
            for c in range(c0, c1):
                gx[ik[c] * C + c] = gk[c]
    _zero_to(gx, done, N, C, c0, c1)


cdef inline Py_ssize_t _zero_to(num_t* gx, Py_ssize_t done, Py_ssize_t upto, Py_ssize_t C, Py_ssize_t c0,
                                Py_ssize_t c1) noexcept nogil:
    """Zero the positions [done, upto) of a block (C channels each, those in c0..c1); return the new mark.

    The scatters zero their block progressively, just ahead of where they write, so that a block larger than
    the caches is zeroed and then written while it is still in cache (oneDNN's trick)."""
    cdef Py_ssize_t k, c
    if upto <= done:
        return done
    if C == 1 or (c0 == 0 and c1 == C):
        memset(gx + done * C, 0, (upto - done) * C * sizeof(num_t))
    else:
        for k in range(done, upto):
            for c in range(c0, c1):
                gx[k * C + c] = 0
    return upto


# ------------------------------------------------------------------------------------------- avg forward

cdef enum:
    TILE_ROWS = 256      # output rows per parallel task of the tiled average forward
    TILE_BLOCK = 4096    # blocks up to this many elements take the tiled average backward


cdef inline bint _tile_axis(const int64_t* t, Py_ssize_t L, Py_ssize_t o, Py_ssize_t k) noexcept nogil:
    """Window i starts at i * k and has all k taps inside: the windows tile the axis's head."""
    cdef Py_ssize_t i
    for i in range(o):
        if t[i] != i * k or t[L + i] != 0 or t[2 * L + i] != k:
            return False
    return True


cdef inline bint _tiled(const Dims* g) noexcept nogil:
    """Planar average pooling whose windows tile the input's head without padding or overlap (stride = kernel,
    every window whole: one divisor)."""
    return (g.C == 1 and g.sw == g.kw and g.dd == 1 and g.dh == 1 and g.dw == 1
            and _tile_axis(g.dt, g.L, g.OD, g.kd) and _tile_axis(g.ht, g.L, g.OH, g.kh)
            and _tile_axis(g.wt, g.L, g.OW, g.kw))


cdef void _avg_tile(const num_t* xp, real_t* yp, const Dims* g, Py_ssize_t r0, Py_ssize_t r1,
                    real_t div) noexcept nogil:
    """Output rows [r0, r1) of a planar average pooling with 2 x 2 tiles: each window's taps summed from +0 in
    row-major order (as the reference sums them), then divided."""
    cdef Py_ssize_t W = g.W, OW = g.OW, OH = g.OH
    cdef Py_ssize_t r, ow, b = r0 // OH, oh = r0 % OH
    cdef const num_t* src
    cdef real_t* yr = yp + r0 * OW
    for r in range(r0, r1):
        src = xp + b * g.H * W + oh * 2 * W
        for ow in range(OW):
            yr[ow] = (((<real_t>0 + <real_t>src[2 * ow]) + <real_t>src[2 * ow + 1]) + <real_t>src[W + 2 * ow]
                      + <real_t>src[W + 2 * ow + 1]) / div
        yr += OW
        oh += 1
        if oh == OH:
            oh = 0
            b += 1


cdef Py_ssize_t _tile_map(const Dims* g, int32_t* tmap) noexcept nogil:
    """Groups of m (D, H, W) blocks of a tiled pooling, m * D * H * W <= TILE_BLOCK (m >= 1, so that small
    blocks share the per-group work): per element of a group, the output (block k's window (od, oh, ow),
    numbered k * OD * OH * OW + (od * OH + oh) * OW + ow) that reads it, or m * OD * OH * OW where no window
    does. Returns m."""
    cdef Py_ssize_t d, h, w, k, S = g.D * g.H * g.W, n = g.OD * g.OH * g.OW
    cdef Py_ssize_t m = max(1, min(g.B, TILE_BLOCK // S))
    for k in range(m):
        for d in range(g.D):
            for h in range(g.H):
                for w in range(g.W):
                    tmap[k * S + (d * g.H + h) * g.W + w] = <int32_t>(
                        k * n + ((d // g.kd) * g.OH + h // g.kh) * g.OW + w // g.kw
                        if d < g.OD * g.kd and h < g.OH * g.kh and w < g.OW * g.kw else m * n)
    return m


cdef void _avg_tile_back(const num_t* gy, real_t* gx, const Dims* g, const int32_t* tmap, Py_ssize_t m,
                         Py_ssize_t b0, real_t div) noexcept nogil:
    """Blocks [b0, b0 + m) (fewer at the end) of a tiled average pooling's gradient: every tap of window w
    gets 0 + gy[w] / div (written once, as the scatter adds it to a zero: -0.0 becomes +0.0), everything the
    windows miss 0."""
    cdef Py_ssize_t e, n = g.OD * g.OH * g.OW, S = g.D * g.H * g.W, nb = min(m, g.B - b0)
    cdef real_t share[TILE_BLOCK + 1]
    gy = gy + b0 * n
    gx = gx + b0 * S
    for e in range(nb * n):
        share[e] = <real_t>0 + <real_t>gy[e] / div
    share[m * n] = 0
    for e in range(nb * S):
        gx[e] = share[tmap[e]]


def avg_pool(const num_t[::1] x not None, real_t[::1] y not None, const int64_t[:, :, ::1] tab not None,
             tuple dims, bint count_include_pad, Py_ssize_t divisor_override, int num_threads):
    """y (B, OD, OH, OW, C) <- sum of each window of x, in row-major tap order, divided as PyTorch does."""
    cdef Dims g
    _set_dims(&g, dims, tab, x.shape[0], y.shape[0], True)
    if g.dd != 1 or g.dh != 1 or g.dw != 1:
        raise ValueError("average pooling takes no dilation")
    if y.shape[0] == 0:
        return
    cdef int failed
    with nogil:
        failed = _avg_run(&x[0], &y[0], &g, count_include_pad, divisor_override, num_threads)
    if failed:
        raise MemoryError()


cdef int _avg_run(const num_t* xp, real_t* yp, const Dims* g, bint count_include_pad,
                  Py_ssize_t divisor_override, int num_threads) noexcept nogil:
    cdef Py_ssize_t r, n = g.B * g.OD * g.OH
    cdef real_t div
    cdef Py_ssize_t* rows
    cdef Phased f
    cdef int failed[1]
    failed[0] = 0
    if _global(g):
        _global_avg(xp, yp, g.B, g.D * g.H * g.W,
                    <real_t>_divisor(g, _row_divisor(g, 0, 0, count_include_pad), 0, count_include_pad,
                                     divisor_override), num_threads)
        return 0
    if _tiled(g) and g.kd == 1 and g.kh == 2 and g.kw == 2:  # 2 x 2 tiles: measured faster than the row
        # batches on planes from 7 x 7 to 56 x 56 (other tiles, 3D ones among them, measured slower)
        div = <real_t>_divisor(g, _row_divisor(g, 0, 0, count_include_pad), 0, count_include_pad,
                               divisor_override)
        if num_threads <= 1 or n <= TILE_ROWS:
            _avg_tile(xp, yp, g, 0, n, div)
        else:
            for r in prange((n + TILE_ROWS - 1) // TILE_ROWS, num_threads=num_threads, schedule="static"):
                _avg_tile(xp, yp, g, r * TILE_ROWS, min(n, r * TILE_ROWS + TILE_ROWS), div)
        return 0
    if g.sw <= 2 and _phased(g, &f):  # (at stride 3 along W the row batches measured faster: 1.3 against 1.6 ms
        # on (64, 32, 30, 30) k3 s3; at strides 1 and 2 the phases, 0.8-1.3 against 1.3-2.1 ms with k5 s2 p2)
        return _phase_run(xp, yp, g, &f, count_include_pad, divisor_override, True, num_threads)
    if _batchable(g):
        return _avg_batched(xp, yp, g, count_include_pad, divisor_override, num_threads)
    if num_threads <= 1:
        rows = <Py_ssize_t*>malloc(g.kd * g.kh * sizeof(Py_ssize_t))
        if rows == NULL:
            return 1
        for r in range(n):
            _avg_row(xp, yp, rows, g, r, count_include_pad, divisor_override)
        free(rows)
        return 0
    with parallel(num_threads=num_threads):
        rows = <Py_ssize_t*>malloc(g.kd * g.kh * sizeof(Py_ssize_t))
        if rows == NULL:
            failed[0] = 1
        for r in prange(n, schedule="static"):
            if rows != NULL:
                _avg_row(xp, yp, rows, g, r, count_include_pad, divisor_override)
        free(rows)
    return failed[0]


cdef inline void _avg_row(const num_t* xp, real_t* yp, Py_ssize_t* rows, const Dims* g, Py_ssize_t r,
                          bint count_include_pad, Py_ssize_t divisor_override) noexcept nogil:
    """One output row: border windows one by one, the interior [lo, hi) (planar only) vectorised."""
    cdef const int64_t* ct = g.wt
    cdef Py_ssize_t L = g.L, C = g.C
    cdef Py_ssize_t per = g.OD * g.OH
    cdef Py_ssize_t b = r // per, q = r % per, ow
    cdef Py_ssize_t od = q // g.OH, oh = q % g.OH
    cdef Py_ssize_t nrows = _rows(g, od, oh, rows, NULL)
    cdef Py_ssize_t rdiv = _row_divisor(g, od, oh, count_include_pad)
    cdef real_t div
    xp = xp + b * g.D * g.H * g.W * C
    yp = yp + r * g.OW * C
    for ow in range(g.lo):
        _avg_window(xp, yp + ow * C, rows, nrows, ct[ow], ct[L + ow], ct[2 * L + ow], C,
                    <real_t>_divisor(g, rdiv, ow, count_include_pad, divisor_override))
    for ow in range(g.hi, g.OW):
        _avg_window(xp, yp + ow * C, rows, nrows, ct[ow], ct[L + ow], ct[2 * L + ow], C,
                    <real_t>_divisor(g, rdiv, ow, count_include_pad, divisor_override))
    if g.lo >= g.hi:
        return
    div = <real_t>_divisor(g, rdiv, g.lo, count_include_pad, divisor_override)
    xp = xp + ct[g.lo]
    cdef StepOne one
    cdef StepTwo two
    cdef StepAny other
    if g.sw == 1:
        _avg_interior(xp, yp + g.lo, g.hi - g.lo, rows, nrows, g.kw, 1, div, one)
    elif g.sw == 2:
        _avg_interior(xp, yp + g.lo, g.hi - g.lo, rows, nrows, g.kw, 2, div, two)
    else:
        _avg_interior(xp, yp + g.lo, g.hi - g.lo, rows, nrows, g.kw, g.sw, div, other)


cdef inline void _avg_window(const num_t* xp, real_t* yo, const Py_ssize_t* rows, Py_ssize_t nrows,
                             Py_ssize_t cs, Py_ssize_t c0, Py_ssize_t c1, Py_ssize_t C,
                             real_t div) noexcept nogil:
    """One window (C channels): taps in row-major order, then the division."""
    cdef Py_ssize_t m, j, c
    cdef const num_t* src
    for c in range(C):
        yo[c] = 0
    for m in range(nrows):
        for j in range(c0, c1):
            src = xp + (rows[m] + cs + j) * C
            for c in range(C):
                yo[c] = yo[c] + <real_t>src[c]
    for c in range(C):
        yo[c] = yo[c] / div


cdef void _avg_interior(const num_t* xp, real_t* yp, Py_ssize_t n, const Py_ssize_t* rows, Py_ssize_t nrows,
                        Py_ssize_t kw, Py_ssize_t step, real_t div, step_t marker) noexcept nogil:
    """n planar windows wholly inside the input along W, the first starting at xp: taps outside (in
    row-major order, so each sum is formed exactly as tap by tap), windows inside."""
    cdef Py_ssize_t m, j, k
    cdef const num_t* src
    if step_t is StepOne:
        step = 1
    elif step_t is StepTwo:
        step = 2
    for k in range(n):
        yp[k] = 0
    for m in range(nrows):
        for j in range(kw):
            src = xp + rows[m] + j
            for k in range(n):
                yp[k] = yp[k] + <real_t>src[k * step]
    for k in range(n):
        yp[k] = yp[k] / div


# ------------------------------------------------------------------------------------- block reductions
#
# scikit-image-style block reductions (block_reduce's np.sum, np.mean, np.max and np.min): windows = strides = the
# block, no padding, no indices. Integer sums accumulate in uint64_t: exact, and wrapping modulo 2**64 as
# NumPy's int64 / uint64 sums wrap (a signed input is sign-extended; the caller reads the result as int64).
# Integer means accumulate in double (exact while every partial sum stays within 2**53: the caller checks)
# and are divided once. Maxima (minima) take the first largest (smallest) cell of a block in row-major
# order, and the first NaN of a block where it has one: the cell max pooling (-max(-x)) picks, so the
# reference's max pooling (and its composition for minima) gives the same bits; NaN-ignoring ones the first
# largest (smallest) non-NaN cell, as the windowed family's nan_policy="omit" composition. NaN-ignoring sums
# and means of floats add NaN as +0, as that composition does.

ctypedef fused int_t:
    int8_t
    int16_t
    int32_t
    int64_t
    uint8_t
    uint16_t
    uint32_t
    uint64_t

ctypedef fused bsum_t:
    uint64_t
    double


cdef int _block_dims(tuple dims, Py_ssize_t nx, Py_ssize_t ny, Py_ssize_t* d) except -1:
    """d[0:8] <- dims = (B, D, H, W, C, kd, kh, kw), checked against buffers of nx and ny elements (y holds
    (B, D // kd, H // kh, W // kw, C))."""
    cdef Py_ssize_t i
    if len(dims) != 8:
        raise ValueError(f"bad block dims {dims}")
    for i in range(8):
        d[i] = dims[i]
    if min(d[0], d[1], d[2], d[3], d[4]) < 0 or min(d[5], d[6], d[7]) < 1:
        raise ValueError(f"bad block dims {dims}")
    if nx != d[0] * d[1] * d[2] * d[3] * d[4] or ny != d[0] * (d[1] // d[5]) * (d[2] // d[6]) * (d[3] // d[7]) * d[4]:
        raise ValueError(f"buffers of {nx} and {ny} elements do not fit block dims {dims}")
    return 0


def block_sum(const int_t[::1] x not None, bsum_t[::1] y not None, tuple dims, double div, int num_threads):
    """y (B, D // kd, H // kh, W // kw, C) <- the sum of each (kd, kh, kw) block of x (B, D, H, W, C), for
    dims = (B, D, H, W, C, kd, kh, kw) (integer sums: exact in any order), / div for a double y. Cells past
    the last whole block of an axis are not read."""
    cdef Py_ssize_t d[8]
    _block_dims(dims, x.shape[0], y.shape[0], d)
    cdef Py_ssize_t r, n = d[0] * (d[1] // d[5]) * (d[2] // d[6])
    if y.shape[0] == 0:
        return
    with nogil:
        if num_threads <= 1 or n < 2:
            for r in range(n):
                _bsum_row(&x[0], &y[0], r, d, div)
        else:
            for r in prange(n, num_threads=num_threads, schedule="static"):
                _bsum_row(&x[0], &y[0], r, d, div)


cdef inline void _bsum_row(const int_t* xp, bsum_t* yp, Py_ssize_t r, const Py_ssize_t* d,
                           double div) noexcept nogil:
    """Output row r = (b, od, oh): its blocks' cells added row by row into the row itself."""
    cdef Py_ssize_t D = d[1], H = d[2], W = d[3], C = d[4], kd = d[5], kh = d[6], kw = d[7]
    cdef Py_ssize_t OD = D // kd, OH = H // kh, OW = W // kw, m = OW * C
    cdef Py_ssize_t b = r // (OD * OH), od = (r // OH) % OD, oh = r % OH
    cdef Py_ssize_t i, j, e, ow, t, c
    cdef bsum_t* y = yp + r * m
    cdef const int_t* src = xp + ((b * D + od * kd) * H + oh * kh) * W * C
    cdef const int_t* s1
    if C == 1 and kd == 1 and kh == 2 and kw == 2:  # 2 x 2 blocks: both rows in one pass
        s1 = src + W
        for ow in range(OW):
            y[ow] = ((<bsum_t>src[2 * ow] + <bsum_t>src[2 * ow + 1])
                     + (<bsum_t>s1[2 * ow] + <bsum_t>s1[2 * ow + 1]))
    else:
        for e in range(m):
            y[e] = 0
        for i in range(kd):
            for j in range(kh):
                src = xp + ((b * D + od * kd + i) * H + oh * kh + j) * W * C
                if C == 1 and kw == 2:
                    for ow in range(OW):
                        y[ow] = y[ow] + (<bsum_t>src[2 * ow] + <bsum_t>src[2 * ow + 1])
                elif C == 1:
                    for ow in range(OW):
                        for t in range(kw):
                            y[ow] = y[ow] + <bsum_t>src[ow * kw + t]
                else:
                    for ow in range(OW):
                        for t in range(kw):
                            for c in range(C):
                                y[ow * C + c] = y[ow * C + c] + <bsum_t>src[(ow * kw + t) * C + c]
    if bsum_t is double:
        for e in range(m):
            y[e] = y[e] / div


# which extreme a block reduction takes, NaN propagating or ignored, as a type (each specialisation compiles
# to plain selects)
ctypedef struct Lowest:
    char unused
ctypedef struct Highest:
    char unused
ctypedef struct LowestNan:
    char unused
ctypedef struct HighestNan:
    char unused
ctypedef fused extreme_t:
    Lowest
    Highest
    LowestNan
    HighestNan


def block_extreme(const num_t[::1] x not None, num_t[::1] y not None, tuple dims, bint highest, bint omit,
                  int num_threads):
    """y (B, D // kd, H // kh, W // kw, C) <- the maximum (highest) or minimum of each (kd, kh, kw) block of
    x (B, D, H, W, C), for dims = (B, D, H, W, C, kd, kh, kw). NaN propagating: the block's first NaN if it has
    one, else its first largest (smallest) cell in row-major order, the cell max pooling (-max(-x)) picks;
    omit: NaN ignored, the first largest (smallest) non-NaN cell, a NaN of the block where it has no other.
    Cells past the last whole block of an axis are not read."""
    cdef Py_ssize_t d[8]
    _block_dims(dims, x.shape[0], y.shape[0], d)
    cdef Py_ssize_t n = d[0] * (d[1] // d[5]) * (d[2] // d[6])
    cdef Lowest low
    cdef Highest high
    cdef LowestNan lownan
    cdef HighestNan highnan
    low.unused = high.unused = lownan.unused = highnan.unused = 0
    if y.shape[0] == 0:
        return
    with nogil:
        if highest and omit:
            _bext_run(&x[0], &y[0], n, d, num_threads, highnan)
        elif highest:
            _bext_run(&x[0], &y[0], n, d, num_threads, high)
        elif omit:
            _bext_run(&x[0], &y[0], n, d, num_threads, lownan)
        else:
            _bext_run(&x[0], &y[0], n, d, num_threads, low)


cdef void _bext_run(const num_t* xp, num_t* yp, Py_ssize_t n, const Py_ssize_t* d, int num_threads,
                    extreme_t which) noexcept nogil:
    cdef Py_ssize_t r
    if num_threads <= 1 or n < 2:
        for r in range(n):
            _bext_row(xp, yp, r, d, which)
    else:
        for r in prange(n, num_threads=num_threads, schedule="static"):
            _bext_row(xp, yp, r, d, which)


cdef inline num_t _pick(num_t v, num_t best, extreme_t which) noexcept nogil:
    """v if it replaces best: in a maximum (minimum) that keeps the first NaN and the first of equal cells, or
    (NaN ignored) the first of equal non-NaN cells."""
    cdef bint take
    if num_t is float or num_t is double:  # (as _takes: & and | rather than branches)
        if extreme_t is Highest:
            take = (best == best) & (not (v <= best))
        elif extreme_t is Lowest:
            take = (best == best) & (not (v >= best))
        elif extreme_t is HighestNan:
            take = (v > best) | ((best != best) & (v == v))
        else:
            take = (v < best) | ((best != best) & (v == v))
    elif extreme_t is Highest or extreme_t is HighestNan:
        take = v > best
    else:
        take = v < best
    return v if take else best


cdef inline void _bext_pairs(const num_t* src, Py_ssize_t n, num_t* y, bint first,
                             extreme_t which) noexcept nogil:
    """y[q] <- the extreme of y[q] (unless first) and src[2q], src[2q + 1]: floats in vectors (_vec.h)."""
    cdef Py_ssize_t ow
    if num_t is float and extreme_t is Lowest:
        sp_lowpairs_float(src, n, y, first)
    elif num_t is double and extreme_t is Lowest:
        sp_lowpairs_double(src, n, y, first)
    elif num_t is float and extreme_t is Highest:
        sp_highpairs_float(src, n, y, first)
    elif num_t is double and extreme_t is Highest:
        sp_highpairs_double(src, n, y, first)
    elif num_t is float and extreme_t is LowestNan:
        sp_lownanpairs_float(src, n, y, first)
    elif num_t is double and extreme_t is LowestNan:
        sp_lownanpairs_double(src, n, y, first)
    elif num_t is float:
        sp_highnanpairs_float(src, n, y, first)
    elif num_t is double:
        sp_highnanpairs_double(src, n, y, first)
    elif first:
        for ow in range(n):
            y[ow] = _pick(src[2 * ow + 1], src[2 * ow], which)
    else:
        for ow in range(n):
            y[ow] = _pick(src[2 * ow + 1], _pick(src[2 * ow], y[ow], which), which)


cdef inline void _bext_row(const num_t* xp, num_t* yp, Py_ssize_t r, const Py_ssize_t* d,
                           extreme_t which) noexcept nogil:
    """Output row r = (b, od, oh): the taps of its blocks in row-major order."""
    cdef Py_ssize_t D = d[1], H = d[2], W = d[3], C = d[4], kd = d[5], kh = d[6], kw = d[7]
    cdef Py_ssize_t OD = D // kd, OH = H // kh, OW = W // kw
    cdef Py_ssize_t b = r // (OD * OH), od = (r // OH) % OD, oh = r % OH
    cdef Py_ssize_t i, j, ow, t, c, t0
    cdef num_t* y = yp + r * OW * C
    cdef const num_t* src
    cdef bint first
    for i in range(kd):
        for j in range(kh):
            src = xp + ((b * D + od * kd + i) * H + oh * kh + j) * W * C
            first = i == 0 and j == 0
            if C == 1 and kw == 2:
                _bext_pairs(src, OW, y, first, which)
                continue
            t0 = 0
            if first:  # the first tap of every block
                for ow in range(OW):
                    for c in range(C):
                        y[ow * C + c] = src[ow * kw * C + c]
                t0 = 1
            for ow in range(OW):
                for t in range(t0, kw):
                    for c in range(C):
                        y[ow * C + c] = _pick(src[(ow * kw + t) * C + c], y[ow * C + c], which)


def block_nansum(const real_t[::1] x not None, real_t[::1] y not None, tuple dims, bint mean, double empty,
                 int num_threads):
    """y (B, D // kd, H // kh, W // kw, C) <- the sum of the non-NaN cells of each (kd, kh, kw) block of
    x (B, D, H, W, C), for dims = (B, D, H, W, C, kd, kh, kw): from +0, NaN added as +0, in row-major order;
    divided by the number of non-NaN cells with mean; empty where the block has no non-NaN cell."""
    cdef Py_ssize_t d[8]
    _block_dims(dims, x.shape[0], y.shape[0], d)
    cdef Py_ssize_t r, n = d[0] * (d[1] // d[5]) * (d[2] // d[6])
    if y.shape[0] == 0:
        return
    with nogil:
        if num_threads <= 1 or n < 2:
            for r in range(n):
                _bnansum_row(&x[0], &y[0], r, d, mean, <real_t>empty)
        else:
            for r in prange(n, num_threads=num_threads, schedule="static"):
                _bnansum_row(&x[0], &y[0], r, d, mean, <real_t>empty)


cdef inline void _bnansum_row(const real_t* xp, real_t* yp, Py_ssize_t r, const Py_ssize_t* d, bint mean,
                              real_t empty) noexcept nogil:
    """Output row r = (b, od, oh): each block's sum and count, tap by tap in row-major order."""
    cdef Py_ssize_t D = d[1], H = d[2], W = d[3], C = d[4], kd = d[5], kh = d[6], kw = d[7]
    cdef Py_ssize_t OD = D // kd, OH = H // kh, OW = W // kw
    cdef Py_ssize_t b = r // (OD * OH), od = (r // OH) % OD, oh = r % OH
    cdef Py_ssize_t i, j, ow, t, c, count
    cdef real_t* y = yp + r * OW * C
    cdef const real_t* src = xp + ((b * D + od * kd) * H + oh * kh) * W * C
    cdef real_t acc, v
    if C == 1 and kd == 1 and kh == 2 and kw == 2:  # 2 x 2 blocks in vectors (_vec.h)
        if real_t is float:
            sp_nanblocks_float(src, src + W, OW, y, mean, empty)
        else:
            sp_nanblocks_double(src, src + W, OW, y, mean, empty)
        return
    for ow in range(OW):
        for c in range(C):
            acc = 0
            count = 0
            for i in range(kd):
                for j in range(kh):
                    for t in range(kw):
                        v = src[((i * H + j) * W + ow * kw + t) * C + c]
                        acc = acc + (v if v == v else <real_t>0)
                        count = count + (v == v)
            if count == 0:
                y[ow * C + c] = empty
            elif mean:
                y[ow * C + c] = acc / <real_t>count
            else:
                y[ow * C + c] = acc

# ---------------------------------------------------------------------------- avg backward, fold (scatter)
#
# Both add windows back in the order (od, oh, tap row, tap column j, ow) for every channel, the order the
# reference's np.add.at uses, so float sums agree bit for bit. For a fixed (od, oh, tap row, j) the windows
# ow write distinct elements (regular windows), which lets the interior columns vectorise.

def avg_pool_backward(const num_t[::1] gy not None, real_t[::1] gx not None, const int64_t[:, :, ::1] tab not None,
                      tuple dims, bint count_include_pad, Py_ssize_t divisor_override, Py_ssize_t chunks,
                      int num_threads):
    """gx (B, D, H, W, C) <- zeros, then every window of gx += gy / divisor."""
    cdef Dims g
    _set_dims(&g, dims, tab, gx.shape[0], gy.shape[0], True)
    if g.dd != 1 or g.dh != 1 or g.dw != 1 or chunks < 1:
        raise ValueError("average pooling takes no dilation")
    if gx.shape[0] == 0:
        return
    if gy.shape[0] == 0:
        memset(&gx[0], 0, gx.shape[0] * sizeof(real_t))
        return
    cdef int failed
    with nogil:
        failed = _avg_back_run(&gy[0], &gx[0], &g, count_include_pad, divisor_override, chunks, num_threads)
    if failed:
        raise MemoryError()


cdef int _avg_back_run(const num_t* gyp, real_t* gxp, const Dims* g, bint count_include_pad,
                       Py_ssize_t divisor_override, Py_ssize_t chunks, int num_threads) noexcept nogil:
    """Returns 1 when a thread could not get its scratch (nothing sensible was written), else 0."""
    cdef Py_ssize_t u, m
    cdef real_t div
    cdef int32_t tmap[TILE_BLOCK]
    # per thread: the rows, the columns' divisors (Py_ssize_t), then the shares of one output row and the
    # divisors of a row (real_t)
    cdef size_t scratch = (g.kd * g.kh + g.OW) * sizeof(Py_ssize_t) + (g.OW * g.C + g.OW + 1) * sizeof(real_t)
    cdef Py_ssize_t* rows = NULL
    cdef Phased f
    cdef int failed[1]
    failed[0] = 0
    if _global(g):
        _global_avg_back(gyp, gxp, g.B, g.D * g.H * g.W,
                         <real_t>_divisor(g, _row_divisor(g, 0, 0, count_include_pad), 0, count_include_pad,
                                          divisor_override), num_threads)
        return 0
    if _tiled(g) and g.D * g.H * g.W <= TILE_BLOCK:
        div = <real_t>_divisor(g, _row_divisor(g, 0, 0, count_include_pad), 0, count_include_pad,
                               divisor_override)
        m = _tile_map(g, tmap)
        if num_threads <= 1 or g.B <= m:
            for u in range((g.B + m - 1) // m):
                _avg_tile_back(gyp, gxp, g, tmap, m, u * m, div)
        else:
            for u in prange((g.B + m - 1) // m, num_threads=num_threads, schedule="static"):
                _avg_tile_back(gyp, gxp, g, tmap, m, u * m, div)
        return 0
    if _phased(g, &f):
        return _phase_run(gyp, gxp, g, &f, count_include_pad, divisor_override, False, num_threads)
    if num_threads <= 1:
        rows = <Py_ssize_t*>malloc(scratch)
        if rows == NULL:
            return 1
        for u in range(g.B * chunks):
            _avg_back_unit(gyp, gxp, rows, <real_t*>(rows + g.kd * g.kh + g.OW), g, u, chunks,
                           count_include_pad, divisor_override)
        free(rows)
        return 0
    with parallel(num_threads=num_threads):
        rows = <Py_ssize_t*>malloc(scratch)
        if rows == NULL:
            failed[0] = 1
        for u in prange(g.B * chunks, schedule="static"):
            if rows != NULL:
                _avg_back_unit(gyp, gxp, rows, <real_t*>(rows + g.kd * g.kh + g.OW), g, u, chunks,
                               count_include_pad, divisor_override)
        free(rows)
    return failed[0]


# Planar 1D and 2D average pooling whose windows are regular along H and W (any overlap, padding, ceil_mode) runs
# block by block, by phases. A padded input element (r, c) = (oh * sh + i, ow * sw + j) belongs to phase
# (r % sh, c % sw), at cell (r // sh, c // sw) = (oh + i // sh, ow + j // sw) of rows of Tw = OW + (kw - 1) // sw
# cells; so with window (oh, ow) at cell oh * Tw + ow, tap (i, j) of every window is one cell at a fixed shift,
# and one vectorised _winsum takes all the block's windows at once.
# - Forward: the input's rows split into their phases (zeros where the padding is), every window's taps summed
#   in row-major order from +0 (columns past OW are junk windows, never stored), then divided.
# - Gradient: the windows' shares in rows of Tw cells (zeros past OW); every cell of a phase is the sum of shares
#   at fixed shifts back, one per tap of that phase. An element's contributions come in the scatter's order
#   (output row ascending, which is tap row i descending, then tap column j ascending), from +0; shifts that
#   land on the zeros add +0, which changes no sum from +0 (it is never -0.0). The phases are then interleaved
#   into the input's rows; what no window covers gets 0.

cdef enum:
    PHASE_CELLS = 1 << 17            # cells of one block's shares and phases at most (larger: the row loop)
    PHASE_SMALL = 4096               # bytes of divisors and scratch that a one-thread run keeps on its stack
    PHASE_SMALL_DOUBLES = 512        # the same, in doubles


cdef struct Phased:
    Py_ssize_t sh                    # stride along H
    Py_ssize_t Tw, NR, tsize         # cells of a phase row (OW + (kw - 1) // sw), phase rows, cells of a phase
    Py_ssize_t M                     # zero cells before the shares: the largest shift back
    Py_ssize_t ps                    # cells of an input phase (forward): tsize and a row of zeros
    Py_ssize_t roff[256]             # forward: tap row i's cells from a window's, in the input's phases
    Py_ssize_t coff[256]             # and tap column j's
    Py_ssize_t nph                   # phases, sh * sw
    Py_ssize_t start[257]            # phase q's taps are toff[start[q]:start[q + 1]]
    Py_ssize_t toff[256]             # each tap's shift, from a phase cell back to its window's share (<= 0)


cdef inline bint _regular_axis(const int64_t* t, Py_ssize_t L, Py_ssize_t o, Py_ssize_t n, Py_ssize_t k,
                               Py_ssize_t s) noexcept nogil:
    """Window i starts at t[0] + i * s and takes exactly its taps inside [0, n)."""
    cdef Py_ssize_t i, start, t0, t1
    for i in range(o):
        start = t[0] + i * s
        t0 = min(k, max(0, -start))
        t1 = max(t0, min(k, n - start))
        if t[i] != start or t[L + i] != t0 or t[2 * L + i] != t1:
            return False
    return True


cdef bint _phased(const Dims* g, Phased* f) noexcept nogil:
    """Planar pooling over H and W only (one trivial depth window), regular windows along both that take every
    tap inside the input, undilated, at most 256 taps and phases: fills f, for _phase_run."""
    cdef const int64_t* dt = g.dt
    cdef Py_ssize_t L = g.L, sh, i, j, fi, fj, n = 0
    if (g.C != 1 or g.sw < 1 or g.sw > 64 or g.D != 1 or g.OD != 1 or g.kd != 1 or dt[0] != 0 or dt[L] != 0
            or dt[2 * L] != 1 or g.dh != 1 or g.dw != 1 or g.kh * g.kw > 256):
        return False
    sh = g.ht[1] - g.ht[0] if g.OH > 1 else 1
    if (sh < 1 or sh > 64 or sh * g.sw > 256 or not _regular_axis(g.ht, L, g.OH, g.H, g.kh, sh)
            or not _regular_axis(g.wt, L, g.OW, g.W, g.kw, g.sw)):
        return False
    f.sh = sh
    f.Tw = g.OW + (g.kw - 1) // g.sw
    f.NR = g.OH + (g.kh - 1) // sh
    f.tsize = f.NR * f.Tw
    f.M = (g.kh - 1) // sh * f.Tw + (g.kw - 1) // g.sw
    f.nph = sh * g.sw
    f.ps = f.tsize + f.Tw
    if (f.nph + 1) * f.ps + f.M + g.OH * g.OW > PHASE_CELLS:
        return False
    for i in range(g.kh):
        f.roff[i] = i % sh * g.sw * f.ps + i // sh * f.Tw
    for j in range(g.kw):
        f.coff[j] = j % g.sw * f.ps + j // g.sw
    for fi in range(sh):
        for fj in range(g.sw):
            f.start[fi * g.sw + fj] = n
            for i in range(g.kh):  # tap rows descending, tap columns ascending
                if (g.kh - 1 - i) % sh == fi:
                    for j in range(g.kw):
                        if j % g.sw == fj:
                            f.toff[n] = -((g.kh - 1 - i) // sh * f.Tw + j // g.sw)
                            n += 1
    f.start[f.nph] = n
    return True


cdef int _phase_run(const num_t* src, real_t* dst, const Dims* g, const Phased* f, bint count_include_pad,
                    Py_ssize_t divisor_override, bint forward, int num_threads) noexcept nogil:
    """Average pooling (forward) or its gradient by phases, block by block over the threads; returns 1 when
    memory ran out, else 0."""
    cdef Py_ssize_t b, oh, ow, rdiv
    # per thread, forward: the input's phases, then the windows' sums; backward: zeros, the shares, the phases
    cdef size_t n = ((f.nph * f.ps * sizeof(num_t) + 63) // 64 * 64 + g.OH * f.Tw * sizeof(real_t) if forward
                     else (f.M + f.tsize + f.nph * f.tsize) * sizeof(real_t))
    cdef size_t dvn = (g.OH * g.OW * sizeof(real_t) + 63) // 64 * 64
    cdef double small[PHASE_SMALL_DOUBLES]  # a small block's scratch, on one thread: no allocation
    cdef bint on_stack = (num_threads <= 1 or g.B == 1) and dvn + n <= PHASE_SMALL
    cdef real_t* dv = <real_t*>small if on_stack else <real_t*>malloc(dvn)  # every window's divisor, shared
    cdef char* buf = NULL
    cdef int failed[1]
    failed[0] = 0
    if dv == NULL:
        return 1
    for oh in range(g.OH):
        rdiv = _row_divisor(g, 0, oh, count_include_pad)
        for ow in range(g.OW):
            dv[oh * g.OW + ow] = <real_t>_divisor(g, rdiv, ow, count_include_pad, divisor_override)
    if on_stack:
        buf = <char*>small + dvn
        memset(buf, 0, n)
        for b in range(g.B):
            _phase_block(src, dst, g, f, dv, buf, b, forward)
        return 0
    if num_threads <= 1 or g.B == 1:
        buf = <char*>calloc(n, 1)
        if buf == NULL:
            failed[0] = 1
        else:
            for b in range(g.B):
                _phase_block(src, dst, g, f, dv, buf, b, forward)
            free(buf)
    else:
        with parallel(num_threads=num_threads):
            buf = <char*>calloc(n, 1)
            if buf == NULL:
                failed[0] = 1
            for b in prange(g.B, schedule="static"):
                if buf != NULL:
                    _phase_block(src, dst, g, f, dv, buf, b, forward)
            free(buf)
    free(dv)
    return failed[0]


cdef void _phase_block(const num_t* src, real_t* dst, const Dims* g, const Phased* f, const real_t* dv, char* buf,
                       Py_ssize_t b, bint forward) noexcept nogil:
    """Block b (see above), in the scratch _phase_run lays out (zeros where no element is)."""
    cdef Py_ssize_t OH = g.OH, OW = g.OW, W = g.W, sw = g.sw, sh = f.sh, Tw = f.Tw, tsize = f.tsize
    cdef Py_ssize_t oh, ow, q, h, r, zero = 0
    cdef num_t* X = <num_t*>buf
    cdef real_t* sums = <real_t*>(buf + (f.nph * f.ps * sizeof(num_t) + 63) // 64 * 64)
    cdef real_t* S = <real_t*>buf + f.M
    cdef real_t* T = S + tsize
    if forward:  # the input's rows into their phases, every window summed in row-major tap order, divided
        src = src + b * g.H * W
        dst = dst + b * OH * OW
        for h in range(g.H):
            r = h - g.ht[0]
            if r >= 0 and r // sh < f.NR:
                _interleave(<num_t*>src + h * W, X + r % sh * sw * f.ps + r // sh * Tw, f.ps, sw, -g.wt[0], W, Tw,
                            True)
        _winsum(X, f.coff, f.roff, g.kh, g.kw, OH * Tw, sums)
        for oh in range(OH):
            for ow in range(OW):
                dst[oh * OW + ow] = sums[oh * Tw + ow] / dv[oh * OW + ow]
        return
    src = src + b * OH * OW  # the windows' shares, each phase's cells summed from them, interleaved
    dst = dst + b * g.H * W
    for oh in range(OH):
        for ow in range(OW):
            S[oh * Tw + ow] = <real_t>src[oh * OW + ow] / dv[oh * OW + ow]
    for q in range(f.nph):
        _winsum(S, &f.toff[f.start[q]], &zero, 1, f.start[q + 1] - f.start[q], tsize, T + q * tsize)
    for h in range(g.H):
        r = h - g.ht[0]
        if r < 0 or r // sh >= f.NR:
            memset(dst + h * W, 0, W * sizeof(real_t))
        else:
            _interleave(dst + h * W, T + r % sh * sw * tsize + r // sh * Tw, tsize, sw, -g.wt[0], W, Tw, False)


cdef inline void _interleave(num_t* row, num_t* ph, Py_ssize_t ps, Py_ssize_t sw, Py_ssize_t pw, Py_ssize_t W,
                             Py_ssize_t Tw, bint split) noexcept nogil:
    """Element w of an input row is padded column c = w + pw, cell c // sw of phase row c % sw (ph, ph + ps,
    ...; cells 0 <= c // sw < Tw). split: the row's elements into their cells (elements without one are left
    out); else the row from its cells, 0 where an element has none."""
    cdef Py_ssize_t w, t, m, q, w0 = min(W, max(0, -pw)), w1
    cdef num_t* a
    cdef num_t* o
    w1 = max(w0, min(W, sw * Tw - pw))
    if not split:
        for w in range(w0):
            row[w] = 0
        for w in range(w1, W):
            row[w] = 0
    if sw == 1:
        if split:
            for w in range(w0, w1):
                ph[w + pw] = row[w]
        else:
            for w in range(w0, w1):
                row[w] = ph[w + pw]
    elif sw == 2:  # pairs of elements: one cell of each phase
        w = w0
        if w < w1 and (w + pw) % 2 == 1:
            if split:
                ph[ps + (w + pw) // 2] = row[w]
            else:
                row[w] = ph[ps + (w + pw) // 2]
            w += 1
        m = (w1 - w) // 2
        a = ph + (w + pw) // 2
        o = row + w
        if split:
            for t in range(m):
                a[t] = o[2 * t]
                a[ps + t] = o[2 * t + 1]
        else:
            for t in range(m):
                o[2 * t] = a[t]
                o[2 * t + 1] = a[ps + t]
        w += 2 * m
        if w < w1:
            if split:
                ph[(w + pw) // 2] = row[w]
            else:
                row[w] = ph[(w + pw) // 2]
    else:  # phase by phase: elements sw apart, consecutive cells
        for t in range(sw):
            w = w0 + ((t - (w0 + pw)) % sw + sw) % sw  # the first element of phase t
            a = ph + t * ps + (w + pw) // sw
            m = (w1 - w + sw - 1) // sw if w < w1 else 0
            if split:
                for q in range(m):
                    a[q] = row[w + q * sw]
            else:
                for q in range(m):
                    row[w + q * sw] = a[q]


cdef inline void _avg_back_unit(const num_t* gy, real_t* gx, Py_ssize_t* rows, real_t* share, const Dims* g,
                                Py_ssize_t u,
                                Py_ssize_t chunks, bint count_include_pad,
                                Py_ssize_t divisor_override) noexcept nogil:
    """Unit u: block u // chunks, one of `chunks` channel ranges."""
    cdef const int64_t* ct = g.wt
    cdef Py_ssize_t L = g.L, C = g.C, OW = g.OW, lo = g.lo, hi = g.hi
    cdef Py_ssize_t b = u // chunks
    cdef Py_ssize_t c0 = (u % chunks) * C // chunks, c1 = (u % chunks + 1) * C // chunks
    cdef Py_ssize_t od, oh, ow, m, j, j0, j1, c, kmax, nrows, rdiv
    cdef real_t div
    cdef real_t* row
    cdef StepOne one
    cdef StepTwo two
    cdef StepAny other
    cdef Py_ssize_t* wdiv = rows + g.kd * g.kh
    cdef real_t* divs = share + OW * C + 1
    cdef Py_ssize_t last = -1
    cdef const num_t* gyr
    cdef Py_ssize_t done = 0
    gy = gy + b * g.OD * g.OH * OW * C
    gx = gx + b * g.D * g.H * g.W * C
    kmax = 0
    for ow in range(OW):
        kmax = max(kmax, ct[2 * L + ow])
        wdiv[ow] = ct[3 * L + ow] if count_include_pad else ct[2 * L + ow] - ct[L + ow]  # _divisor's W part
    for od in range(g.OD):
        for oh in range(g.OH):
            nrows = _rows(g, od, oh, rows, NULL)
            if nrows:  # zeroed through the last row this output row writes (rows ascend)
                done = _zero_to(gx, done, rows[nrows - 1] + g.W, C, c0, c1)
            rdiv = _row_divisor(g, od, oh, count_include_pad)
            gyr = gy + (od * g.OH + oh) * OW * C
            if C == 1:  # one loop over the row's windows (vectorised): the divisors as _divisor gives them
                if divisor_override != 0:
                    div = <real_t>divisor_override
                    for ow in range(OW):
                        share[ow] = <real_t>gyr[ow] / div
                else:  # the row's divisors, converted once per distinct row divisor (int64 -> real is scalar)
                    if rdiv != last:
                        for ow in range(OW):
                            divs[ow] = <real_t>(rdiv * wdiv[ow])
                        last = rdiv
                    for ow in range(OW):
                        share[ow] = <real_t>gyr[ow] / divs[ow]
            else:
                for ow in range(OW):
                    div = <real_t>_divisor(g, rdiv, ow, count_include_pad, divisor_override)
                    for c in range(c0, c1):
                        share[ow * C + c] = <real_t>gyr[ow * C + c] / div
            for m in range(nrows):
                row = gx + rows[m] * C
                if lo >= hi:  # no interior: tap by tap, window by window
                    for j in range(kmax):
                        for ow in range(OW):
                            _add_tap(row, share, ct, L, ow, j, 1, C, c0, c1)
                    continue
                # Taps in periods of sw: within one, the taps of all windows land on distinct elements, so the
                # interior's taps of a period go in one contiguous pass; periods in order keep each element's
                # sums in the scatter's order (tap j outer, window inner).
                j0 = 0
                while j0 < kmax:
                    j1 = min(kmax, j0 + g.sw)
                    for j in range(j0, j1):
                        for ow in range(lo):
                            _add_tap(row, share, ct, L, ow, j, 1, C, c0, c1)
                        for ow in range(hi, OW):
                            _add_tap(row, share, ct, L, ow, j, 1, C, c0, c1)
                    if g.sw == 1:
                        _add_period(row + ct[lo] + j0, share + lo, hi - lo, 1, j1 - j0, one)
                    elif g.sw == 2:
                        _add_period(row + ct[lo] + j0, share + lo, hi - lo, 2, j1 - j0, two)
                    else:
                        _add_period(row + ct[lo] + j0, share + lo, hi - lo, g.sw, j1 - j0, other)
                    j0 = j1
    _zero_to(gx, done, g.D * g.H * g.W, C, c0, c1)


cdef inline void _add_tap(num_t* row, const num_t* vals, const int64_t* ct, Py_ssize_t L, Py_ssize_t ow,
                          Py_ssize_t j, Py_ssize_t dw, Py_ssize_t C, Py_ssize_t c0,
                          Py_ssize_t c1) noexcept nogil:
    """row[column of tap j of window ow] += vals[ow] (channels c0..c1), if that tap is inside the input."""
    cdef Py_ssize_t c
    cdef num_t* dst
    cdef const num_t* src
    if ct[L + ow] <= j < ct[2 * L + ow]:
        dst = row + (ct[ow] + j * dw) * C
        src = vals + ow * C
        for c in range(c0, c1):
            dst[c] += src[c]


cdef inline void _add_period(num_t* row, const num_t* vals, Py_ssize_t n, Py_ssize_t step, Py_ssize_t width,
                             step_t marker) noexcept nogil:
    """Taps 0 <= j < width (width <= step) of n planar windows step apart: row[k * step + j] += vals[k]. Whole
    groups of step elements are written (the taps past width add a zero: an element is never -0.0 here, so
    that changes nothing), which makes the pass contiguous and vectorisable; the last window writes only its
    own taps (the row may end there)."""
    cdef Py_ssize_t k, j
    cdef num_t v
    if step_t is StepOne:
        step = 1
    elif step_t is StepTwo:
        step = 2
    if width == step:
        for k in range(n - 1):
            v = vals[k]
            for j in range(step):
                row[k * step + j] += v
    else:
        for k in range(n - 1):
            v = vals[k]
            for j in range(step):
                row[k * step + j] += v if j < width else 0
    for j in range(width):
        row[(n - 1) * step + j] += vals[n - 1]


def fold(const num_t[::1] win not None, num_t[::1] gx not None, const int64_t[:, :, ::1] tab not None,
         tuple dims, Py_ssize_t chunks, int num_threads):
    """gx (B, D, H, W, C) <- zeros, then every window of win (B, OD, OH, OW, C, kd, kh, kw) added back where
    it came from (overlaps summed, padding cropped)."""
    cdef Dims g
    _set_dims(&g, dims, tab, gx.shape[0], -1, False)
    B, OD, OH, OW, C, kd, kh, kw = dims[0], dims[5], dims[6], dims[7], dims[4], dims[8], dims[9], dims[10]
    if win.shape[0] != B * OD * OH * OW * C * kd * kh * kw or chunks < 1:
        raise ValueError("the windows do not match dims")
    if gx.shape[0] == 0:
        return
    if win.shape[0] == 0:
        memset(&gx[0], 0, gx.shape[0] * sizeof(num_t))
        return
    cdef int failed
    with nogil:
        failed = _fold_run(&win[0], &gx[0], &g, chunks, num_threads)
    if failed:
        raise MemoryError()


cdef int _fold_run(const num_t* wp, num_t* gxp, const Dims* g, Py_ssize_t chunks, int num_threads) noexcept nogil:
    cdef Py_ssize_t u
    cdef Py_ssize_t* rows = NULL
    cdef int failed[1]
    failed[0] = 0
    with parallel(num_threads=num_threads):
        rows = <Py_ssize_t*>malloc(2 * g.kd * g.kh * sizeof(Py_ssize_t))
        if rows == NULL:
            failed[0] = 1
        for u in prange(g.B * chunks, schedule="static"):
            if rows != NULL:
                _fold_unit(wp, gxp, rows, g, u, chunks)
        free(rows)
    return failed[0]


cdef inline void _fold_unit(const num_t* win, num_t* gx, Py_ssize_t* rows, const Dims* g, Py_ssize_t u,
                            Py_ssize_t chunks) noexcept nogil:
    cdef const int64_t* ct = g.wt
    cdef Py_ssize_t L = g.L, C = g.C, OW = g.OW, KR = g.kd * g.kh, KW = g.kw
    cdef Py_ssize_t b = u // chunks
    cdef Py_ssize_t c0 = (u % chunks) * C // chunks, c1 = (u % chunks + 1) * C // chunks
    cdef Py_ssize_t od, oh, ow, m, j, c, nrows
    cdef Py_ssize_t* taps = rows + KR
    cdef const num_t* w
    cdef num_t* dst
    cdef Py_ssize_t done = 0
    win = win + b * g.OD * g.OH * OW * C * KR * KW
    gx = gx + b * g.D * g.H * g.W * C
    for od in range(g.OD):
        for oh in range(g.OH):
            nrows = _rows(g, od, oh, rows, taps)
            if nrows:  # zeroed through the last row this output row writes (rows ascend)
                done = _zero_to(gx, done, rows[nrows - 1] + g.W, C, c0, c1)
            for m in range(nrows):
                for j in range(KW):
                    for ow in range(OW):
                        if ct[L + ow] <= j < ct[2 * L + ow]:
                            dst = gx + (rows[m] + ct[ow] + j * g.dw) * C
                            w = win + ((((od * g.OH + oh) * OW + ow) * C) * KR + taps[m]) * KW + j
                            for c in range(c0, c1):
                                dst[c] += w[c * KR * KW]
    _zero_to(gx, done, g.D * g.H * g.W, C, c0, c1)


# ------------------------------------------------------------------------------------- the lean call path
#
# A Plan replays one call that the full Python path has already validated: same operation, same input
# shape and dtype (native float32 or float64), same parameters, planar C-contiguous arrays, no out=. It
# allocates the result and runs the kernel with no more than a buffer request per array, which is what
# makes small calls in training loops cheap. stridepool._compiled makes plans and looks them up.

from cpython.buffer cimport PyBUF_C_CONTIGUOUS, PyBUF_FORMAT, PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.long cimport PyLong_CheckExact
from cpython.tuple cimport PyTuple_CheckExact
from cpython.object cimport PyObject
from cpython.unicode cimport PyUnicode_CheckExact

cdef enum:
    RECENT_SLOTS = 64  # the plans that ran last, one per slot of (input bytes, operation, pooled axes)
    KEY_DIMS = 16  # the most array dimensions a plan compares as C integers (more: its key is never recent)
    KEEP_BYTES = 16384  # a plan keeps its last results up to this size, to reuse once the caller lets them go

cdef extern from *:
    """
    /* Only the plan holds o (one reference) and no weak reference to it is alive: the caller let its
       result go, and nothing can tell the array was written again. Never under free-threading, where a
       reference count does not say that, nor for a type whose weak references are not in a slot. */
    static inline int sp_only_holder(PyObject* o) {
    #ifdef Py_GIL_DISABLED
        return 0;
    #else
        Py_ssize_t off = Py_TYPE(o)->tp_weaklistoffset;
        if (Py_REFCNT(o) != 1 || off < 0)
            return 0;
        return off == 0 || *(PyObject**)((char*)o + off) == NULL;
    #endif
    }
    """
    bint sp_only_holder(PyObject* o) noexcept


def plain(obj):
    """True for None, str, exact int (not bool) and tuples of these: values whose equality means the same call."""
    return _plain(obj)


cdef bint _plain(object obj):
    if obj is None or PyLong_CheckExact(obj) or PyUnicode_CheckExact(obj):
        return True
    if PyTuple_CheckExact(obj):
        for item in <tuple>obj:
            if not _plain(item):
                return False
        return True
    return False


cdef bint _same(object a, object b):
    """a is the plain value b: equal, with the same exact types all the way down (True is not 1, 2.0 is not 2).
    b is plain (a plan's parameters); so is a, then."""
    cdef Py_ssize_t i, n
    if a is b:
        return True
    if PyTuple_CheckExact(a) and PyTuple_CheckExact(b):
        n = len(<tuple>a)
        if n != len(<tuple>b):
            return False
        for i in range(n):
            if not _same((<tuple>a)[i], (<tuple>b)[i]):
                return False
        return True
    if (PyLong_CheckExact(a) and PyLong_CheckExact(b)) or (PyUnicode_CheckExact(a) and PyUnicode_CheckExact(b)):
        return a == b
    return False


cdef inline bint _fits(const Py_buffer* v, Py_ssize_t nbytes) noexcept:
    """The buffer holds exactly nbytes (a plan never reads or writes past a buffer) and its items are aligned
    (an unaligned array takes the full path, which copies it)."""
    return v.len == nbytes and (v.itemsize <= 0 or (<size_t>v.buf) % <size_t>v.itemsize == 0)


cdef int _acquire(object a, Py_buffer* view, Py_ssize_t nbytes) except -1:
    """A new result's buffer, writable (np.empty's or a Block's: it always fits)."""
    PyObject_GetBuffer(a, view, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE)
    if not _fits(view, nbytes):
        PyBuffer_Release(view)
        raise ValueError("array size or alignment does not match the plan")
    return 0


cdef bint _shape_is(const Py_buffer* v, int ndim, const Py_ssize_t* shape) noexcept:
    cdef int i
    if v.ndim != ndim:
        return False
    for i in range(ndim):
        if v.shape[i] != shape[i]:
            return False
    return True


cdef int _dims_of(tuple shape, Py_ssize_t* dims) except -2:
    """shape's length, its sizes copied to dims; -1 (never equal to an array's) beyond KEY_DIMS."""
    cdef int i
    if len(shape) > KEY_DIMS:
        return -1
    for i in range(len(shape)):
        dims[i] = shape[i]
    return len(shape)


cdef class Plan:
    """One validated planar operation, replayed: 0 max, 1 max with indices, 2 max backward, 3 avg,
    4 avg backward. It knows the key it was stored under (stridepool._compiled._key), to recognise the call
    again from its input's buffer and its arguments (``_matches``) without making the key.

    A small result (KEEP_BYTES at most) stays on the plan after it is returned; the next run writes into it
    again instead of allocating, but only when the plan is the array's only holder (the caller let it go,
    no view, buffer or weak reference of it is alive) and the array is still what the plan made:
    C-contiguous, writable, of the result's shape and dtype. No one can see the reuse: no one else holds
    the array, or can reach it."""
    cdef readonly int op
    cdef bint back                   # a backward (2, 4): its result is the gradient, of the input's shape
    cdef bint dbl, multi, incl
    cdef Dims g
    cdef Py_ssize_t divisor, itemsize, n_in, n_out
    cdef object table, res_shape, dtype, idx_dtype, empty, threads, check_indices
    cdef int k_nd, k_ndim, i_ndim
    cdef char k_format
    cdef object k_op, k_flags, k_params
    cdef Py_ssize_t k_shape[KEY_DIMS]
    cdef Py_ssize_t i_shape[KEY_DIMS]
    cdef int r_ndim  # the results' shape (res_shape)
    cdef Py_ssize_t r_shape[KEY_DIMS]
    cdef object kept_values, kept_indices  # the last small results, or None

    def __init__(self, tuple key, int op, dtype, const int64_t[:, :, ::1] table not None, tuple dims,
                 bint count_include_pad, Py_ssize_t divisor, in_shape, out_shape, bint multi, empty, idx_dtype,
                 threads, check_indices):
        cdef Py_ssize_t B, D, H, W, C, OD, OH, OW
        B, D, H, W, C, OD, OH, OW = dims[:8]
        if C != 1 or B < 1:
            raise ValueError("plans are planar")
        self.n_in, self.n_out = B * D * H * W, B * OD * OH * OW
        if op == 2:  # a scatter by index: only the sizes matter
            self.g.B = B
        else:
            _set_dims(&self.g, dims, table, self.n_in, self.n_out, True)
        self.op, self.dtype, self.incl, self.divisor = op, dtype, count_include_pad, divisor
        self.back = op == 2 or op == 4
        self.dbl = dtype.itemsize == 8
        self.itemsize = dtype.itemsize
        self.table = table.base if table.base is not None else table  # keeps the table's memory alive
        self.res_shape = in_shape if self.back else out_shape
        self.multi, self.empty, self.threads, self.check_indices = multi, empty, threads, check_indices
        self.idx_dtype = idx_dtype
        # the key: (nd, op, shape, dtype, extra, flags, params), extra = (the indices' shape, dtype) or ()
        self.k_nd, self.k_op, self.k_flags, self.k_params = key[0], key[1], key[5], key[6]
        self.k_ndim = _dims_of(key[2], self.k_shape)
        self.i_ndim = _dims_of(key[4][0], self.i_shape) if key[4] else 0
        self.r_ndim = _dims_of(self.res_shape, self.r_shape)
        self.k_format = b'd' if self.dbl else b'f'
        self.kept_values = self.kept_indices = None

    cdef bint _matches(self, const Py_buffer* v, int nd, str op, tuple flags, tuple params):
        """The call (nd, op, an input whose buffer is v, flags, params) is this plan's key."""
        cdef Py_ssize_t i
        if nd != self.k_nd or v.itemsize != self.itemsize or not _shape_is(v, self.k_ndim, self.k_shape):
            return False
        if v.format == NULL or v.format[0] != self.k_format or v.format[1] != 0:  # native float32 / float64
            return False
        if not (op is self.k_op or op == self.k_op) or len(flags) != len(<tuple>self.k_flags):
            return False
        for i in range(len(flags)):
            if flags[i] is not (<tuple>self.k_flags)[i]:  # a key's flags are exactly bools
                return False
        return _same(params, self.k_params)

    cdef int _nt(self) except -1:
        return self.threads() if self.multi else 1

    cdef Py_ssize_t _nbytes(self, bint indices) noexcept:
        """The bytes of a result: the indices of a max forward (indices), else the values or the gradient."""
        return (self.n_in if self.back else self.n_out) * (8 if indices else self.itemsize)

    cdef object _new(self, bint indices, Py_buffer* view):
        """A result (see _nbytes) with its buffer acquired in view (writable): the kept one when it may be reused
        (see the class), else np.empty, or for a large one an array on a cached Block (as
        stridepool._compiled._alloc)."""
        cdef Py_ssize_t nbytes = self._nbytes(indices)
        kept = self.kept_indices if indices else self.kept_values
        if kept is not None:
            if indices:
                self.kept_indices = None
            else:
                self.kept_values = None
            # the plan's field is gone: the local is the only holder of an array the caller let go
            if sp_only_holder(<PyObject*>kept) and self._reusable(kept, nbytes, indices, view):
                return kept
            kept = None
        dtype = self.idx_dtype if indices else self.dtype
        if nbytes >= CACHE_MIN_BYTES:
            a = _ndarray(self.res_shape, dtype, Block(nbytes))
        else:
            a = self.empty(self.res_shape, dtype)
        _acquire(a, view, nbytes)
        return a

    cdef bint _reusable(self, a, Py_ssize_t nbytes, bint indices, Py_buffer* view):
        """a (a kept result) is still C-contiguous, aligned, writable and of the result's shape and dtype
        (nothing reshaped or retyped it in place); its buffer acquired in view if so."""
        try:
            PyObject_GetBuffer(a, view, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE | PyBUF_FORMAT)
        except (BufferError, ValueError):
            return False
        if (_fits(view, nbytes) and view.format != NULL and view.format[1] == 0
                and (view.format[0] in b'lq' and view.itemsize == 8 if indices
                     else view.format[0] == self.k_format and view.itemsize == self.itemsize)
                and _shape_is(view, self.r_ndim, self.r_shape)):
            return True
        PyBuffer_Release(view)
        return False

    cdef void _keep(self, a, bint indices):
        """Keep a small result for the next run."""
        if self._nbytes(indices) <= KEEP_BYTES:
            if indices:
                self.kept_indices = a
            else:
                self.kept_values = a

    cdef object _run(self, const Py_buffer* v, idx):
        """The plan on its input (x, or the gradient of a backward: buffer v) and idx (max backward); None where
        an array is not what the plan reads (size, alignment, layout of idx): the caller takes the full path."""
        cdef Py_ssize_t n = self.n_out if self.back else self.n_in
        if not _fits(v, n * self.itemsize):
            return None
        if self.back:
            return self._backward(v.buf, idx)
        return self._forward(v.buf)

    cdef int _forward_kernel(self, const void* x, void* y, int64_t* idx, int nt) noexcept nogil:
        if self.op == 3:
            if self.dbl:
                return _avg_run[double, double](<const double*>x, <double*>y, &self.g, self.incl, self.divisor, nt)
            return _avg_run[float, float](<const float*>x, <float*>y, &self.g, self.incl, self.divisor, nt)
        if self.dbl:
            return _max_run[double](<const double*>x, <double*>y, idx, &self.g, nt)
        return _max_run[float](<const float*>x, <float*>y, idx, &self.g, nt)

    cdef object _forward(self, const void* x):
        cdef Py_buffer by, bi
        cdef int nt = self._nt()
        cdef int failed = 0
        y = self._new(False, &by)
        idx = None
        try:
            if self.op == 1:
                idx = self._new(True, &bi)
            with nogil:
                failed = self._forward_kernel(x, by.buf, <int64_t*>bi.buf if idx is not None else NULL, nt)
            if idx is not None:
                PyBuffer_Release(&bi)
        finally:
            PyBuffer_Release(&by)
        if failed:
            raise MemoryError()
        self._keep(y, False)
        if idx is None:
            return y
        self._keep(idx, True)
        return (y, idx)

    cdef int _backward_kernel(self, const void* g, const int64_t* idx, void* gx, int nt) noexcept nogil:
        if self.op == 2:
            if self.dbl:
                return _scatter_run[double](<const double*>g, idx, <double*>gx, self.g.B, self.n_in // self.g.B, 1,
                                            self.n_out // self.g.B, True, 1, nt)
            return _scatter_run[float](<const float*>g, idx, <float*>gx, self.g.B, self.n_in // self.g.B, 1,
                                       self.n_out // self.g.B, True, 1, nt)
        if self.dbl:
            return _avg_back_run[double, double](<const double*>g, <double*>gx, &self.g, self.incl, self.divisor,
                                                 1, nt)
        return _avg_back_run[float, float](<const float*>g, <float*>gx, &self.g, self.incl, self.divisor, 1, nt)

    cdef object _backward(self, const void* g, idx):
        cdef Py_buffer bi, bx
        cdef int nt = self._nt()
        cdef int status = 0
        if self.op == 2:  # the indices: exactly the key's shape, native int64, C-contiguous
            if type(idx) is not _ndarray:
                return None
            try:
                PyObject_GetBuffer(idx, &bi, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT)
            except (BufferError, ValueError):
                return None
            if (bi.itemsize != 8 or bi.format == NULL or bi.format[1] != 0 or bi.format[0] not in b'lq'
                    or not _shape_is(&bi, self.i_ndim, self.i_shape) or not _fits(&bi, self.n_out * 8)):
                PyBuffer_Release(&bi)
                return None
        try:
            gx = self._new(False, &bx)
            with nogil:
                status = self._backward_kernel(g, <const int64_t*>bi.buf if self.op == 2 else NULL, bx.buf, nt)
            PyBuffer_Release(&bx)
        finally:
            if self.op == 2:
                PyBuffer_Release(&bi)
        if status and self.op == 2:  # a bad index
            self.check_indices(idx, self.n_in // self.g.B)  # raises the reference's ValueError
            raise AssertionError("the kernel met an index outside the block that the check did not find")
        if status:
            raise MemoryError()
        self._keep(gx, False)
        return gx


cdef list _recent = [None] * RECENT_SLOTS


cdef inline Py_ssize_t _slot(Py_ssize_t nbytes, int nd, str op) except -1:
    """The recent slot of a call: its input's byte count, operation and pooled axes, mixed."""
    cdef size_t h = (<size_t>nbytes * <size_t>0x9E3779B97F4A7C15) ^ <size_t>hash(op) ^ <size_t>nd
    return <Py_ssize_t>((h ^ (h >> 29)) % RECENT_SLOTS)


cdef object _lookup(dict plans, int nd, str op, x, tuple flags, tuple params, idx):
    """The plan stored under the call's key in plans, or None (a flag not exactly a bool, parameters that are
    not plain: True == 1, so only plain keys may hit; an unhashable argument)."""
    for f in flags:
        if type(f) is not bool:
            return None
    extra = () if idx is None else (idx.shape, idx.dtype)
    try:
        found = plans.get((nd, op, x.shape, x.dtype, extra, flags, params))
    except TypeError:  # an unhashable argument (a list, an array): the full path
        return None
    if found is None or not _plain(params):
        return None
    return found


cdef dict _plans = {}  # the table of plans that lean reads (stridepool._compiled._PLANS, given by bind)


def bind(dict plans):
    """Read plans from now on (stridepool._compiled._PLANS, when it picks this build), none recent."""
    global _plans
    _plans = plans
    forget()


def forget():
    """Drop the recent plans (the table they came from was cleared)."""
    for i in range(RECENT_SLOTS):
        _recent[i] = None


def lean(int nd, str op, x, tuple flags, tuple params, idx=None):
    """The lean path of a repeated call, in C: the result of the plan remembered in the bound table under the key
    stridepool._compiled._key makes, ``(nd, op, x.shape, x.dtype, extra, flags, params)`` (extra: the
    indices' shape and dtype for a max backward, else ()), run on x (and idx); or None: x (or idx) not an
    exact ndarray, a flag not exactly a bool, no plan, parameters that are not plain (True == 1, so only
    plain keys may hit), or an array the plan cannot take.

    A call recognised from its input's buffer and its arguments by the plan that last ran in its slot (a
    plan compares what its key holds) skips making and hashing the key; the slots hold any plan of the
    table that ran, and ``forget`` empties them when the table is cleared."""
    cdef Py_buffer bx
    cdef Py_ssize_t slot
    if type(x) is not _ndarray or (idx is not None and type(idx) is not _ndarray):
        return None
    try:
        PyObject_GetBuffer(x, &bx, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT)
    except (BufferError, ValueError):  # not C-contiguous: the full path
        return None
    try:
        slot = _slot(bx.len, nd, op)
        found = _recent[slot]
        if found is None or not (<Plan>found)._matches(&bx, nd, op, flags, params):
            found = _lookup(_plans, nd, op, x, flags, params, idx)
            if found is None:
                return None
            if (<Plan>found)._matches(&bx, nd, op, flags, params):
                _recent[slot] = found
        return (<Plan>found)._run(&bx, idx)
    finally:
        PyBuffer_Release(&bx)
