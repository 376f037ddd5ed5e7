# The compiled kernels of stridepool, included by _kernels.pyx (baseline instruction set) and by
# _kernels_avx2.pyx (the same code built with AVX2 + FMA, used only on CPUs that have them; see
# stridepool._compiled). Compiler directives are set once, in setup.py.
#
# Contract: the Python layer (stridepool._compiled) hands every kernel C-contiguous, native-order,
# correctly shaped arrays of the right dtypes, a window table from stridepool._params.window_table and a
# positive thread count, and never calls a kernel on an empty output. Kernels do no allocation and take
# no Python objects in their loops; they release the GIL and split work so that every output element is
# written by exactly one thread (results never depend on the thread count).
#
# Layout: every array is seen as (B, H, W, C) with C innermost. C == 1 is the planar (..., H, W) case
# and has its own loops; C > 1 is channels-last and vectorises over C.
#
# Window table `tab` (int64, shape (2, 4, L)): tab[0] rows, tab[1] columns; for window o,
# tab[a, 0, o] = start (input coordinate of tap 0), tab[a, 1, o] = t0, tab[a, 2, o] = t1 (taps t0 <= t < t1
# are inside the input, at start + t * dilation), tab[a, 3, o] = taps inside the padded extent.

from cython.parallel cimport parallel, prange
from libc.stdint cimport int8_t, int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc
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
    static int sp_cpu_has_avx2(void) {
    #if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    #else
        return 0;
    #endif
    }
    """
    const int SP_HAVE_OPENMP
    int omp_get_max_threads() noexcept nogil
    void omp_set_num_threads(int) noexcept nogil
    int sp_cpu_has_avx2() noexcept nogil

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

HAVE_OPENMP = bool(SP_HAVE_OPENMP)


def cpu_has_avx2():
    """True when this CPU (and OS) support AVX2 and FMA, so that _kernels_avx2 may be imported."""
    return bool(sp_cpu_has_avx2())


def openmp_max_threads():
    """omp_get_max_threads() of the calling thread (1 without OpenMP)."""
    return omp_get_max_threads()


def openmp_set_num_threads(int n):
    """omp_set_num_threads(n) for the calling thread (no-op without OpenMP)."""
    omp_set_num_threads(n)


# ------------------------------------------------------------------------------------------- max forward

cdef inline bint _takes(num_t v, num_t best) noexcept nogil:
    # v replaces the running maximum: strictly greater (ties keep the first), or the first NaN (once the
    # maximum is NaN nothing replaces it; a NaN v is 'not <=' anything).
    return (best == best) and not (v <= best)


def max_pool(const num_t[:, :, :, ::1] x not None, num_t[:, :, :, ::1] y not None,
             int64_t[:, :, :, ::1] idx, const int64_t[:, :, ::1] tab not None,
             Py_ssize_t kw, Py_ssize_t sw, Py_ssize_t dh, Py_ssize_t dw, int num_threads):
    """y, idx (B, OH, OW, C) <- max over the windows of x (B, H, W, C). idx may be None."""
    _max_run(&x[0, 0, 0, 0], &y[0, 0, 0, 0], &idx[0, 0, 0, 0] if idx is not None else NULL,
             x.shape[0], x.shape[1], x.shape[2], x.shape[3], y.shape[1], y.shape[2], &tab[0, 0, 0], tab.shape[2],
             kw, sw, dh, dw, num_threads)


cdef void _max_run(const num_t* xp, num_t* yp, int64_t* ip, Py_ssize_t B, Py_ssize_t H, Py_ssize_t W,
                   Py_ssize_t C, Py_ssize_t OH, Py_ssize_t OW, const int64_t* tab, Py_ssize_t L, Py_ssize_t kw,
                   Py_ssize_t sw, Py_ssize_t dh, Py_ssize_t dw, int num_threads) noexcept nogil:
    cdef bint with_idx = ip != NULL
    cdef const int64_t* rt = tab
    cdef const int64_t* ct = tab + 4 * L
    cdef Py_ssize_t r
    cdef Py_ssize_t lo = _interior_lo(ct, L, OW, kw)
    cdef Py_ssize_t hi = _interior_hi(ct, L, OW, kw, lo)
    # positions are tracked as int32 in the vectorised loops when a plane is small enough (it always is
    # in practice): SSE2 cannot select float32 and int64 lanes together
    cdef bint narrow = with_idx and H * W < 2147483647
    cdef int32_t* tmp
    if num_threads <= 1:  # no parallel region at all: small calls pay nothing for OpenMP
        tmp = <int32_t*>malloc((OW + C) * sizeof(int32_t)) if narrow else NULL
        for r in range(B * OH):
            _max_row(xp, yp, ip, tmp, H, W, C, OH, OW, lo, hi, rt, ct, L, r, kw, sw, dh, dw)
        free(tmp)
        return
    with parallel(num_threads=num_threads):
        tmp = <int32_t*>malloc((OW + C) * sizeof(int32_t)) if narrow else NULL
        for r in prange(B * OH, schedule="static"):
            _max_row(xp, yp, ip, tmp, H, W, C, OH, OW, lo, hi, rt, ct, L, r, kw, sw, dh, dw)
        free(tmp)


cdef inline void _max_row(const num_t* xp, num_t* yp, int64_t* ip, int32_t* tmp, Py_ssize_t H, Py_ssize_t W,
                          Py_ssize_t C, Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t lo, Py_ssize_t hi,
                          const int64_t* rt, const int64_t* ct, Py_ssize_t L, Py_ssize_t r, Py_ssize_t kw,
                          Py_ssize_t sw, Py_ssize_t dh, Py_ssize_t dw) noexcept nogil:
    """Output row r of all B * OH rows."""
    cdef bint with_idx = ip != NULL
    if C == 1:
        if with_idx and tmp != NULL:
            _max_row_planar(xp + (r // OH) * H * W, yp + r * OW, ip + r * OW, tmp, W, OW, lo, hi,
                            rt, ct, L, r % OH, kw, sw, dh, dw, True)
        elif with_idx:  # huge plane (or no memory for the scratch row): tap by tap
            _max_row_planar(xp + (r // OH) * H * W, yp + r * OW, ip + r * OW, NULL, W, OW, OW, OW,
                            rt, ct, L, r % OH, kw, sw, dh, dw, True)
        else:
            _max_row_planar(xp + (r // OH) * H * W, yp + r * OW, NULL, NULL, W, OW, lo, hi,
                            rt, ct, L, r % OH, kw, sw, dh, dw, False)
    elif with_idx:
        _max_row_last(xp + (r // OH) * H * W * C, yp + r * OW * C, ip + r * OW * C, tmp, W, OW,
                      C, rt, ct, L, r % OH, dh, dw, True)
    else:
        _max_row_last(xp + (r // OH) * H * W * C, yp + r * OW * C, NULL, NULL, W, OW, C,
                      rt, ct, L, r % OH, dh, dw, False)


cdef inline void _max_window(const num_t* xp, num_t* yp, int64_t* ip, Py_ssize_t W, Py_ssize_t rs,
                             Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t cs, Py_ssize_t c0, Py_ssize_t c1,
                             Py_ssize_t dh, Py_ssize_t dw, Py_ssize_t ow, bint with_idx) noexcept nogil:
    """One window of a plane, tap by tap in row-major order."""
    cdef Py_ssize_t i, j, base, pos
    cdef Py_ssize_t bi = (rs + r0 * dh) * W + cs + c0 * dw
    cdef num_t v, best = xp[bi]
    for i in range(r0, r1):
        base = (rs + i * dh) * W + cs
        for j in range(c0, c1):
            pos = base + j * dw
            v = xp[pos]
            if _takes(v, best):
                best = v
                bi = pos
    yp[ow] = best
    if with_idx:
        ip[ow] = bi


cdef inline void _max_row_planar(const num_t* xp, num_t* yp, int64_t* ip, int32_t* tmp, Py_ssize_t W,
                                 Py_ssize_t OW, Py_ssize_t lo, Py_ssize_t hi, const int64_t* rt,
                                 const int64_t* ct, Py_ssize_t L, Py_ssize_t oh, Py_ssize_t kw, Py_ssize_t sw,
                                 Py_ssize_t dh, Py_ssize_t dw, bint with_idx) noexcept nogil:
    """One output row of a plane: border columns window by window, interior columns [lo, hi) vectorised."""
    cdef Py_ssize_t rs = rt[oh], r0 = rt[L + oh], r1 = rt[2 * L + oh]
    cdef Py_ssize_t ow, k
    for ow in range(lo):
        _max_window(xp, yp, ip, W, rs, r0, r1, ct[ow], ct[L + ow], ct[2 * L + ow], dh, dw, ow, with_idx)
    for ow in range(hi, OW):
        _max_window(xp, yp, ip, W, rs, r0, r1, ct[ow], ct[L + ow], ct[2 * L + ow], dh, dw, ow, with_idx)
    if lo >= hi:
        return
    # the compiler specialises the common strides, so the loads have a constant step
    xp = xp + ct[lo]
    if sw == 1:
        _max_interior(xp, yp + lo, tmp, hi - lo, W, rs, r0, r1, kw, dh, dw, 1, with_idx)
    elif sw == 2:
        _max_interior(xp, yp + lo, tmp, hi - lo, W, rs, r0, r1, kw, dh, dw, 2, with_idx)
    else:
        _max_interior(xp, yp + lo, tmp, hi - lo, W, rs, r0, r1, kw, dh, dw, sw, with_idx)
    if with_idx:
        for k in range(hi - lo):
            ip[lo + k] = tmp[k] + ct[lo]


cdef inline void _max_interior(const num_t* xp, num_t* yp, int32_t* tp, Py_ssize_t n, Py_ssize_t W,
                               Py_ssize_t rs, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t kw, Py_ssize_t dh,
                               Py_ssize_t dw, Py_ssize_t step, bint with_idx) noexcept nogil:
    """n windows wholly inside the input, the first starting at xp (column 0 of the plane's row 0 + its
    column start): taps outside, windows inside, branch-free selects. tp gets positions relative to xp."""
    cdef Py_ssize_t i, j, k, off
    cdef int32_t pos
    cdef const num_t* src
    cdef num_t v, best
    cdef bint take
    off = (rs + r0 * dh) * W
    src = xp + off
    for k in range(n):
        yp[k] = src[k * step]
    if with_idx:
        pos = <int32_t>off
        for k in range(n):
            tp[k] = pos + <int32_t>(k * step)
    for i in range(r0, r1):
        for j in range(kw):
            if i == r0 and j == 0:
                continue
            off = (rs + i * dh) * W + j * dw
            src = xp + off
            pos = <int32_t>off
            if with_idx:
                for k in range(n):
                    v = src[k * step]
                    best = yp[k]
                    take = (best == best) & (not (v <= best))
                    yp[k] = v if take else best
                    tp[k] = pos + <int32_t>(k * step) if take else tp[k]
            else:
                for k in range(n):
                    v = src[k * step]
                    best = yp[k]
                    take = (best == best) & (not (v <= best))
                    yp[k] = v if take else best


cdef inline void _max_row_last(const num_t* xp, num_t* yp, int64_t* ip, int32_t* tp, Py_ssize_t W,
                               Py_ssize_t OW, Py_ssize_t C, const int64_t* rt, const int64_t* ct, Py_ssize_t L,
                               Py_ssize_t oh, Py_ssize_t dh, Py_ssize_t dw, bint with_idx) noexcept nogil:
    """One output row, channels-last: window by window, vectorised across channels. With indices, tp
    (C int32, or NULL for a huge plane) holds the running positions."""
    cdef Py_ssize_t rs = rt[oh], r0 = rt[L + oh], r1 = rt[2 * L + oh]
    cdef Py_ssize_t ow, i, j, c, cs, c0, c1, pos, first
    cdef const num_t* src
    cdef num_t* yo
    cdef int64_t* io
    cdef num_t v, best
    cdef int32_t p32
    cdef bint take
    for ow in range(OW):
        cs = ct[ow]
        c0 = ct[L + ow]
        c1 = ct[2 * L + ow]
        yo = yp + ow * C
        io = ip + ow * C
        first = (rs + r0 * dh) * W + cs + c0 * dw
        src = xp + first * C
        for c in range(C):
            yo[c] = src[c]
        if with_idx:
            if tp != NULL:
                for c in range(C):
                    tp[c] = <int32_t>first
            else:
                for c in range(C):
                    io[c] = first
        for i in range(r0, r1):
            for j in range(c0, c1):
                pos = (rs + i * dh) * W + cs + j * dw
                if pos == first:
                    continue
                src = xp + pos * C
                if with_idx and tp != NULL:
                    p32 = <int32_t>pos
                    for c in range(C):
                        v = src[c]
                        best = yo[c]
                        take = (best == best) & (not (v <= best))
                        yo[c] = v if take else best
                        tp[c] = p32 if take else tp[c]
                elif with_idx:
                    for c in range(C):
                        v = src[c]
                        best = yo[c]
                        take = (best == best) & (not (v <= best))
                        yo[c] = v if take else best
                        io[c] = pos if take else io[c]
                else:
                    for c in range(C):
                        v = src[c]
                        best = yo[c]
                        take = (best == best) & (not (v <= best))
                        yo[c] = v if take else best
        if with_idx and tp != NULL:
            for c in range(C):
                io[c] = tp[c]


# ------------------------------------------------------------------------------------------ max backward

def max_unpool_add(const num_t[:, :, :, ::1] gy not None, const int64_t[:, :, :, ::1] idx not None,
                   num_t[:, :, :, ::1] gx not None, Py_ssize_t chunks, int num_threads):
    """gx (B, H, W, C) <- zeros, then gx.flat-plane[idx] += gy, in row-major output order.

    Every index is checked against [0, H*W) before it is used; a unit (one b and one of `chunks` channel
    ranges) stops at a bad one and the call returns 1 (else 0): the caller then discards gx and names the
    bad index itself. Callers that pass their own `out` array check the indices first, so that nothing is
    written there.
    """
    return _unpool_run(&gy[0, 0, 0, 0], &idx[0, 0, 0, 0], &gx[0, 0, 0, 0], gx.shape[0], gx.shape[1] * gx.shape[2],
                       gx.shape[3], gy.shape[1] * gy.shape[2], chunks, num_threads)


cdef int _unpool_run(const num_t* gyp, const int64_t* ip, num_t* gxp, Py_ssize_t B, Py_ssize_t HW,
                         Py_ssize_t C, Py_ssize_t OHW, Py_ssize_t chunks, int num_threads) noexcept nogil:
    cdef int bad[1]
    cdef Py_ssize_t u
    bad[0] = 0
    if num_threads <= 1:
        for u in range(B * chunks):
            _unpool_unit(gyp, ip, gxp, HW, C, OHW, chunks, u, bad)
    else:
        for u in prange(B * chunks, num_threads=num_threads, schedule="static"):
            _unpool_unit(gyp, ip, gxp, HW, C, OHW, chunks, u, bad)
    return bad[0]


cdef inline void _unpool_unit(const num_t* gyp, const int64_t* ip, num_t* gxp, Py_ssize_t HW, Py_ssize_t C,
                              Py_ssize_t OHW, Py_ssize_t chunks, Py_ssize_t u, int* bad) noexcept nogil:
    if C == 1:
        _unpool_plane(gyp + u * OHW, ip + u * OHW, gxp + u * HW, OHW, HW, bad)
    else:
        _unpool_last(gyp + (u // chunks) * OHW * C, ip + (u // chunks) * OHW * C,
                     gxp + (u // chunks) * HW * C, OHW, HW, C,
                     (u % chunks) * C // chunks, (u % chunks + 1) * C // chunks, bad)


cdef inline void _unpool_plane(const num_t* gy, const int64_t* idx, num_t* gx, Py_ssize_t n, Py_ssize_t HW,
                               int* bad) noexcept nogil:
    cdef Py_ssize_t k
    cdef int64_t pos
    memset(gx, 0, HW * sizeof(num_t))
    for k in range(n):
        pos = idx[k]
        if <uint64_t>pos >= <uint64_t>HW:  # also catches negative positions; the caller discards gx
            bad[0] = 1
            return
        gx[pos] += gy[k]


cdef inline void _unpool_last(const num_t* gy, const int64_t* idx, num_t* gx, Py_ssize_t n, Py_ssize_t HW,
                              Py_ssize_t C, Py_ssize_t c0, Py_ssize_t c1, int* bad) noexcept nogil:
    cdef Py_ssize_t k, c
    cdef int64_t pos
    _zero_unit(gx, HW, C, c0, c1)
    for k in range(n):
        for c in range(c0, c1):
            pos = idx[k * C + c]
            if <uint64_t>pos >= <uint64_t>HW:
                bad[0] = 1
                return
            gx[pos * C + c] += gy[k * C + c]


# ------------------------------------------------------------------------------------------- avg forward

cdef inline Py_ssize_t _interior_lo(const int64_t* ct, Py_ssize_t L, Py_ssize_t OW, Py_ssize_t kw) noexcept nogil:
    """First column whose window lies wholly inside the input (OW if none)."""
    cdef Py_ssize_t lo = 0
    while lo < OW and not (ct[L + lo] == 0 and ct[2 * L + lo] == kw):
        lo += 1
    return lo


cdef inline Py_ssize_t _interior_hi(const int64_t* ct, Py_ssize_t L, Py_ssize_t OW, Py_ssize_t kw,
                                    Py_ssize_t lo) noexcept nogil:
    """One past the last column whose window lies wholly inside the input (columns [lo, hi) all do)."""
    cdef Py_ssize_t hi = OW
    while hi > lo and not (ct[L + hi - 1] == 0 and ct[2 * L + hi - 1] == kw):
        hi -= 1
    return hi


def avg_pool(const num_t[:, :, :, ::1] x not None, real_t[:, :, :, ::1] y not None,
             const int64_t[:, :, ::1] tab not None, Py_ssize_t kw, Py_ssize_t sw, bint count_include_pad,
             Py_ssize_t divisor_override, int num_threads):
    """y (B, OH, OW, C) <- sum of each window of x, in row-major tap order, divided as PyTorch does."""
    _avg_run(&x[0, 0, 0, 0], &y[0, 0, 0, 0], x.shape[0], x.shape[1], x.shape[2], x.shape[3], y.shape[1],
             y.shape[2], &tab[0, 0, 0], tab.shape[2], kw, sw, count_include_pad, divisor_override, num_threads)


cdef void _avg_run(const num_t* xp, real_t* yp, Py_ssize_t B, Py_ssize_t H, Py_ssize_t W, Py_ssize_t C,
                   Py_ssize_t OH, Py_ssize_t OW, const int64_t* tab, Py_ssize_t L, Py_ssize_t kw, Py_ssize_t sw,
                   bint count_include_pad, Py_ssize_t divisor_override, int num_threads) noexcept nogil:
    cdef const int64_t* rt = tab
    cdef const int64_t* ct = tab + 4 * L
    cdef Py_ssize_t r
    cdef Py_ssize_t lo = _interior_lo(ct, L, OW, kw) if C == 1 else OW
    cdef Py_ssize_t hi = _interior_hi(ct, L, OW, kw, lo) if C == 1 else OW
    if num_threads <= 1:
        for r in range(B * OH):
            _avg_row(xp + (r // OH) * H * W * C, yp + r * OW * C, W, OW, C, lo, hi, kw, sw, rt, ct, L, r % OH,
                     count_include_pad, divisor_override)
    else:
        for r in prange(B * OH, num_threads=num_threads, schedule="static"):
            _avg_row(xp + (r // OH) * H * W * C, yp + r * OW * C, W, OW, C, lo, hi, kw, sw, rt, ct, L, r % OH,
                     count_include_pad, divisor_override)


cdef inline Py_ssize_t _divisor(const int64_t* rt, const int64_t* ct, Py_ssize_t L, Py_ssize_t oh,
                                Py_ssize_t ow, bint count_include_pad,
                                Py_ssize_t divisor_override) noexcept nogil:
    if divisor_override != 0:
        return divisor_override
    if count_include_pad:
        return rt[3 * L + oh] * ct[3 * L + ow]
    return (rt[2 * L + oh] - rt[L + oh]) * (ct[2 * L + ow] - ct[L + ow])


cdef inline void _avg_row(const num_t* xp, real_t* yp, Py_ssize_t W, Py_ssize_t OW, Py_ssize_t C,
                          Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t kw, Py_ssize_t sw, const int64_t* rt,
                          const int64_t* ct, Py_ssize_t L, Py_ssize_t oh, bint count_include_pad,
                          Py_ssize_t divisor_override) noexcept nogil:
    """One output row: border windows one by one, the interior [lo, hi) (planar only) vectorised."""
    cdef Py_ssize_t ow
    for ow in range(lo):
        _avg_window(xp, yp + ow * C, W, C, rt, ct, L, oh, ow, count_include_pad, divisor_override)
    for ow in range(hi, OW):
        _avg_window(xp, yp + ow * C, W, C, rt, ct, L, oh, ow, count_include_pad, divisor_override)
    if lo >= hi:
        return
    cdef real_t div = <real_t>_divisor(rt, ct, L, oh, lo, count_include_pad, divisor_override)
    xp = xp + ct[lo]
    if sw == 1:
        _avg_interior(xp, yp + lo, hi - lo, W, rt[oh], rt[L + oh], rt[2 * L + oh], kw, 1, div)
    elif sw == 2:
        _avg_interior(xp, yp + lo, hi - lo, W, rt[oh], rt[L + oh], rt[2 * L + oh], kw, 2, div)
    else:
        _avg_interior(xp, yp + lo, hi - lo, W, rt[oh], rt[L + oh], rt[2 * L + oh], kw, sw, div)


cdef inline void _avg_window(const num_t* xp, real_t* yo, Py_ssize_t W, Py_ssize_t C, const int64_t* rt,
                             const int64_t* ct, Py_ssize_t L, Py_ssize_t oh, Py_ssize_t ow,
                             bint count_include_pad, Py_ssize_t divisor_override) noexcept nogil:
    """One window (C channels): taps in row-major order, then the division."""
    cdef Py_ssize_t rs = rt[oh], r0 = rt[L + oh], r1 = rt[2 * L + oh]
    cdef Py_ssize_t cs = ct[ow], c0 = ct[L + ow], c1 = ct[2 * L + ow]
    cdef Py_ssize_t i, j, c
    cdef const num_t* src
    cdef real_t div = <real_t>_divisor(rt, ct, L, oh, ow, count_include_pad, divisor_override)
    for c in range(C):
        yo[c] = 0
    for i in range(r0, r1):
        for j in range(c0, c1):
            src = xp + ((rs + i) * W + cs + j) * C
            for c in range(C):
                yo[c] = yo[c] + <real_t>src[c]
    for c in range(C):
        yo[c] = yo[c] / div


cdef inline void _avg_interior(const num_t* xp, real_t* yp, Py_ssize_t n, Py_ssize_t W, Py_ssize_t rs,
                               Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t kw, Py_ssize_t step,
                               real_t div) noexcept nogil:
    """n planar windows wholly inside the input, the first starting at column 0 of xp: taps outside (in
    row-major order, so each sum is formed exactly as tap by tap), windows inside."""
    cdef Py_ssize_t i, j, k
    cdef const num_t* src
    for k in range(n):
        yp[k] = 0
    for i in range(r0, r1):
        for j in range(kw):
            src = xp + (rs + i) * W + j
            for k in range(n):
                yp[k] = yp[k] + <real_t>src[k * step]
    for k in range(n):
        yp[k] = yp[k] / div


# ---------------------------------------------------------------------------- avg backward, fold (scatter)
#
# Both add windows back in the order (oh, tap row i, tap column j, ow) for every channel, the order the
# reference's np.add.at uses, so float sums agree bit for bit. For a fixed (oh, i, j) the windows ow write
# distinct elements, which lets the interior columns vectorise.

def avg_unpool_add(const num_t[:, :, :, ::1] gy not None, real_t[:, :, :, ::1] gx not None,
                   const int64_t[:, :, ::1] tab not None, Py_ssize_t kw, Py_ssize_t sw, bint count_include_pad,
                   Py_ssize_t divisor_override, Py_ssize_t chunks, int num_threads):
    """gx (B, H, W, C) <- zeros, then every window of gx += gy / divisor."""
    if _avg_back_run(&gy[0, 0, 0, 0], &gx[0, 0, 0, 0], gx.shape[0], gx.shape[1], gx.shape[2], gx.shape[3],
                     gy.shape[1], gy.shape[2], &tab[0, 0, 0], tab.shape[2], kw, sw, count_include_pad,
                     divisor_override, chunks, num_threads):
        raise MemoryError()


cdef int _avg_back_run(const num_t* gyp, real_t* gxp, Py_ssize_t B, Py_ssize_t H, Py_ssize_t W, Py_ssize_t C,
                       Py_ssize_t OH, Py_ssize_t OW, const int64_t* tab, Py_ssize_t L, Py_ssize_t kw,
                       Py_ssize_t sw, bint count_include_pad, Py_ssize_t divisor_override, Py_ssize_t chunks,
                       int num_threads) noexcept nogil:
    """Returns 1 when a thread could not get its scratch row (nothing sensible was written), else 0."""
    cdef const int64_t* rt = tab
    cdef const int64_t* ct = tab + 4 * L
    cdef Py_ssize_t u, b
    cdef Py_ssize_t lo = _interior_lo(ct, L, OW, kw) if C == 1 else OW
    cdef Py_ssize_t hi = _interior_hi(ct, L, OW, kw, lo) if C == 1 else OW
    cdef real_t* share
    cdef int failed[1]
    failed[0] = 0
    if num_threads <= 1:
        share = <real_t*>malloc((OW * C + 1) * sizeof(real_t))
        if share == NULL:
            return 1
        for u in range(B * chunks):
            _avg_back_unit(gyp + (u // chunks) * OH * OW * C, gxp + (u // chunks) * H * W * C, share, H, W, OH,
                           OW, C, (u % chunks) * C // chunks, (u % chunks + 1) * C // chunks, lo, hi, sw, rt, ct,
                           L, count_include_pad, divisor_override)
        free(share)
        return 0
    with parallel(num_threads=num_threads):
        share = <real_t*>malloc((OW * C + 1) * sizeof(real_t))
        if share == NULL:
            failed[0] = 1
        for u in prange(B * chunks, schedule="static"):
            if share != NULL:
                _avg_back_unit(gyp + (u // chunks) * OH * OW * C, gxp + (u // chunks) * H * W * C, share, H, W,
                               OH, OW, C, (u % chunks) * C // chunks, (u % chunks + 1) * C // chunks, lo, hi, sw,
                               rt, ct, L, count_include_pad, divisor_override)
        free(share)
    return failed[0]


cdef inline void _zero_unit(num_t* gx, Py_ssize_t HW, Py_ssize_t C, Py_ssize_t c0, Py_ssize_t c1) noexcept nogil:
    cdef Py_ssize_t k, c
    if C == 1 or (c0 == 0 and c1 == C):
        memset(gx, 0, HW * C * sizeof(num_t))
    else:
        for k in range(HW):
            for c in range(c0, c1):
                gx[k * C + c] = 0


cdef inline void _avg_back_unit(const num_t* gy, real_t* gx, real_t* share, Py_ssize_t H, Py_ssize_t W,
                                Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t C, Py_ssize_t c0, Py_ssize_t c1,
                                Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t sw, const int64_t* rt,
                                const int64_t* ct, Py_ssize_t L, bint count_include_pad,
                                Py_ssize_t divisor_override) noexcept nogil:
    cdef Py_ssize_t oh, ow, i, j, c, rs, r0, r1, kmax
    cdef real_t div
    cdef real_t* row
    _zero_unit(gx, H * W, C, c0, c1)
    kmax = 0
    for ow in range(OW):
        kmax = max(kmax, ct[2 * L + ow])
    for oh in range(OH):
        rs = rt[oh]
        r0 = rt[L + oh]
        r1 = rt[2 * L + oh]
        for ow in range(OW):
            div = <real_t>_divisor(rt, ct, L, oh, ow, count_include_pad, divisor_override)
            for c in range(c0, c1):
                share[ow * C + c] = <real_t>gy[(oh * OW + ow) * C + c] / div
        for i in range(r0, r1):
            row = gx + (rs + i) * W * C
            for j in range(kmax):
                for ow in range(lo):
                    _add_tap(row, share, ct, L, ow, j, 1, C, c0, c1)
                if lo < hi:
                    if sw == 1:
                        _add_interior(row + (ct[lo] + j) * C, share + lo * C, hi - lo, 1)
                    elif sw == 2:
                        _add_interior(row + (ct[lo] + j) * C, share + lo * C, hi - lo, 2)
                    else:
                        _add_interior(row + (ct[lo] + j) * C, share + lo * C, hi - lo, sw)
                for ow in range(hi, OW):
                    _add_tap(row, share, ct, L, ow, j, 1, C, c0, c1)


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


cdef inline void _add_interior(num_t* row, const num_t* vals, Py_ssize_t n, Py_ssize_t step) noexcept nogil:
    """row[k * step] += vals[k] for n planar windows (distinct elements: vectorisable)."""
    cdef Py_ssize_t k
    for k in range(n):
        row[k * step] += vals[k]


def fold(const num_t[:, :, :, :, :, ::1] win not None, num_t[:, :, :, ::1] gx not None,
         const int64_t[:, :, ::1] tab not None, Py_ssize_t dh, Py_ssize_t dw, Py_ssize_t chunks,
         int num_threads):
    """gx (B, H, W, C) <- zeros, then every window of win (B, OH, OW, C, KH, KW) added back where it came
    from (overlaps summed, padding cropped)."""
    cdef Py_ssize_t B = gx.shape[0], H = gx.shape[1], W = gx.shape[2], C = gx.shape[3]
    cdef Py_ssize_t OH = win.shape[1], OW = win.shape[2], KH = win.shape[4], KW = win.shape[5]
    cdef Py_ssize_t L = tab.shape[2]
    cdef const num_t* wp = &win[0, 0, 0, 0, 0, 0]
    cdef num_t* gxp = &gx[0, 0, 0, 0]
    cdef const int64_t* rt = &tab[0, 0, 0]
    cdef const int64_t* ct = &tab[1, 0, 0]
    cdef Py_ssize_t u, b
    for u in prange(B * chunks, nogil=True, num_threads=num_threads, schedule="static"):
        b = u // chunks
        _fold_unit(wp + b * OH * OW * C * KH * KW, gxp + b * H * W * C, H, W, OH, OW, C, KH, KW,
                   (u % chunks) * C // chunks, (u % chunks + 1) * C // chunks, rt, ct, L, dh, dw)


cdef inline void _fold_unit(const num_t* win, num_t* gx, Py_ssize_t H, Py_ssize_t W, Py_ssize_t OH,
                            Py_ssize_t OW, Py_ssize_t C, Py_ssize_t KH, Py_ssize_t KW, Py_ssize_t c0,
                            Py_ssize_t c1, const int64_t* rt, const int64_t* ct, Py_ssize_t L,
                            Py_ssize_t dh, Py_ssize_t dw) noexcept nogil:
    cdef Py_ssize_t oh, ow, i, j, c, rs, r0, r1
    cdef const num_t* w
    cdef num_t* dst
    _zero_unit(gx, H * W, C, c0, c1)
    for oh in range(OH):
        rs = rt[oh]
        r0 = rt[L + oh]
        r1 = rt[2 * L + oh]
        for i in range(r0, r1):
            for j in range(KW):
                for ow in range(OW):
                    if ct[L + ow] <= j < ct[2 * L + ow]:
                        dst = gx + ((rs + i * dh) * W + ct[ow] + j * dw) * C
                        w = win + (((oh * OW + ow) * C) * KH + i) * KW + j
                        for c in range(c0, c1):
                            dst[c] += w[c * KH * KW]


# ------------------------------------------------------------------------------------- the lean call path
#
# A Plan replays one call that the full Python path has already validated: same operation, same input
# shape and dtype (native float32 or float64), same parameters, planar C-contiguous arrays, no out=. It
# allocates the result and runs the kernel with no more than a buffer request per array, which is what
# makes small calls in training loops cheap. stridepool._compiled makes plans and looks them up.

from cpython.buffer cimport PyBUF_C_CONTIGUOUS, PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.long cimport PyLong_CheckExact
from cpython.tuple cimport PyTuple_CheckExact
from cpython.unicode cimport PyUnicode_CheckExact


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


cdef int _acquire(object a, Py_buffer* view, Py_ssize_t nbytes, bint writable) except -1:
    PyObject_GetBuffer(a, view, PyBUF_C_CONTIGUOUS | (PyBUF_WRITABLE if writable else 0))
    if view.len != nbytes:  # never happens for a key hit; never read or write past a buffer either
        PyBuffer_Release(view)
        raise ValueError("array size does not match the plan")
    return 0


cdef class Plan:
    """One validated planar operation, replayed: 0 max, 1 max with indices, 2 max backward, 3 avg,
    4 avg backward."""
    cdef readonly int op
    cdef bint dbl, multi, incl
    cdef Py_ssize_t B, H, W, OH, OW, L, kw, sw, dh, dw, divisor, itemsize
    cdef object table, out_shape, in_shape, dtype, idx_dtype, empty, threads, check_indices
    cdef const int64_t* tab

    def __init__(self, int op, dtype, Py_ssize_t B, Py_ssize_t H, Py_ssize_t W, Py_ssize_t OH, Py_ssize_t OW,
                 const int64_t[:, :, ::1] table not None, tuple geometry, in_shape, out_shape, bint multi,
                 empty, idx_dtype, threads, check_indices):
        self.op, self.dtype, self.B, self.H, self.W, self.OH, self.OW = op, dtype, B, H, W, OH, OW
        self.dbl = dtype.itemsize == 8
        self.itemsize = dtype.itemsize
        self.table = table.base if table.base is not None else table
        self.tab = &table[0, 0, 0]
        self.L = table.shape[2]
        self.kw, self.sw, self.dh, self.dw, self.incl, self.divisor = geometry
        self.in_shape, self.out_shape = in_shape, out_shape
        self.multi, self.empty, self.threads, self.check_indices = multi, empty, threads, check_indices
        self.idx_dtype = idx_dtype

    cdef int _nt(self) except -1:
        return self.threads() if self.multi else 1

    def forward(self, x):
        """max (op 0, 1) or avg (op 3) of x; None if x is not C-contiguous (the caller takes the full path)."""
        cdef Py_buffer bx, by, bi
        cdef int nt = self._nt()
        cdef Py_ssize_t n_in = self.B * self.H * self.W, n_out = self.B * self.OH * self.OW
        try:
            _acquire(x, &bx, n_in * self.itemsize, False)
        except (BufferError, ValueError):  # not C-contiguous: the full path
            return None
        y = self.empty(self.out_shape, self.dtype)
        idx = self.empty(self.out_shape, self.idx_dtype) if self.op == 1 else None
        try:
            _acquire(y, &by, n_out * self.itemsize, True)
            if idx is not None:
                _acquire(idx, &bi, n_out * 8, True)
            with nogil:
                if self.op == 3:
                    if self.dbl:
                        _avg_run[double, double](<const double*>bx.buf, <double*>by.buf, self.B, self.H,
                                                 self.W, 1, self.OH, self.OW, self.tab, self.L, self.kw, self.sw,
                                                 self.incl, self.divisor, nt)
                    else:
                        _avg_run[float, float](<const float*>bx.buf, <float*>by.buf, self.B, self.H, self.W,
                                               1, self.OH, self.OW, self.tab, self.L, self.kw, self.sw,
                                               self.incl, self.divisor, nt)
                elif self.dbl:
                    _max_run[double](<const double*>bx.buf, <double*>by.buf,
                                     <int64_t*>bi.buf if self.op == 1 else NULL, self.B, self.H, self.W, 1,
                                     self.OH, self.OW, self.tab, self.L, self.kw, self.sw, self.dh, self.dw, nt)
                else:
                    _max_run[float](<const float*>bx.buf, <float*>by.buf,
                                    <int64_t*>bi.buf if self.op == 1 else NULL, self.B, self.H, self.W, 1,
                                    self.OH, self.OW, self.tab, self.L, self.kw, self.sw, self.dh, self.dw, nt)
            if idx is not None:
                PyBuffer_Release(&bi)
            PyBuffer_Release(&by)
        finally:
            PyBuffer_Release(&bx)
        return (y, idx) if idx is not None else y

    def backward(self, g, idx=None):
        """max backward (op 2, with idx) or avg backward (op 4); None if an array is not C-contiguous."""
        cdef Py_buffer bg, bi, bx
        cdef int nt = self._nt()
        cdef Py_ssize_t n_in = self.B * self.H * self.W, n_out = self.B * self.OH * self.OW
        cdef int bad = 0
        cdef int failed = 0
        try:
            _acquire(g, &bg, n_out * self.itemsize, False)
        except (BufferError, ValueError):  # not C-contiguous: the full path
            return None
        try:
            if self.op == 2:
                try:
                    _acquire(idx, &bi, n_out * 8, False)
                except (BufferError, ValueError):  # not C-contiguous: the full path
                    return None
            gx = self.empty(self.in_shape, self.dtype)
            _acquire(gx, &bx, n_in * self.itemsize, True)
            with nogil:
                if self.op == 2:
                    if self.dbl:
                        bad = _unpool_run[double](<const double*>bg.buf, <const int64_t*>bi.buf,
                                                  <double*>bx.buf, self.B, self.H * self.W, 1, self.OH * self.OW,
                                                  1, nt)
                    else:
                        bad = _unpool_run[float](<const float*>bg.buf, <const int64_t*>bi.buf, <float*>bx.buf,
                                                 self.B, self.H * self.W, 1, self.OH * self.OW, 1, nt)
                elif self.dbl:
                    failed = _avg_back_run[double, double](<const double*>bg.buf, <double*>bx.buf, self.B,
                                                           self.H, self.W, 1, self.OH, self.OW, self.tab, self.L,
                                                           self.kw, self.sw, self.incl, self.divisor, 1, nt)
                else:
                    failed = _avg_back_run[float, float](<const float*>bg.buf, <float*>bx.buf, self.B, self.H,
                                                         self.W, 1, self.OH, self.OW, self.tab, self.L, self.kw,
                                                         self.sw, self.incl, self.divisor, 1, nt)
            PyBuffer_Release(&bx)
            if self.op == 2:
                PyBuffer_Release(&bi)
        finally:
            PyBuffer_Release(&bg)
        if bad:
            self.check_indices(idx, self.H * self.W)  # raises the reference's ValueError
            raise AssertionError("the kernel met an index outside [0, H*W) that the check did not find")
        if failed:
            raise MemoryError()
        return gx
