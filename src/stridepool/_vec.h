/* Vector building blocks of stridepool's kernels, included by _kernels_impl.pxi.
 *
 * The planar kernels work on batches of output rows laid out in a per-thread scratch buffer (see
 * _kernels_impl.pxi, "batched planar max"). Their two inner steps are here, written once per element type
 * with GCC/Clang vector extensions, so that each output row costs a few vector instructions and no loop
 * set-up, whatever the compiler's auto-vectoriser decides: SP_LANES lanes of any type per step (4 on the
 * baseline build: SSE2 on x86-64, NEON on arm64; 8 with AVX2; 16 with AVX-512), with an int32 key per lane.
 * A compiler without vector extensions (MSVC) gets the same functions as plain loops, with the same results.
 *
 * Keys order the taps of a window: a smaller key is earlier in row-major tap order. The callers give each
 * input row a key base that makes key = base + column increase in that order (the element's flat position
 * in its block); padding cells carry
 * SP_KEY_PAD, after every real tap. With keys the maximum can be taken in any order and still be the
 * row-major first maximum (ties and NaNs: the first NaN wins; -0.0 and +0.0 are told apart by position),
 * which is what makes the separable scheme (column maxima, then across columns) exact.
 */
#ifndef STRIDEPOOL_VEC_H
#define STRIDEPOOL_VEC_H

#include <stddef.h>
#include <stdint.h>

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#define SP_LANES 16
#elif defined(__AVX2__)
#define SP_LANES 8
#else
#define SP_LANES 4

#endif

#if (defined(__GNUC__) || defined(__clang__)) && !defined(SP_PLAIN)
#define SP_VECTORS 1
#else
#define SP_VECTORS 0

#endif

#define SP_KEY_PAD INT32_MAX

/* Py_ssize_t: this header is included by Cython's C file, after Python.h */
typedef Py_ssize_t sp_ssize;

#if SP_VECTORS
typedef int32_t sp_kv __attribute__((vector_size(4 * SP_LANES), aligned(4), may_alias));
#if SP_LANES == 4
static const sp_kv SP_IOTA = {0, 1, 2, 3};
#elif SP_LANES == 8
static const sp_kv SP_IOTA = {0, 1, 2, 3, 4, 5, 6, 7};
#else
static const sp_kv SP_IOTA = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

#endif
#endif

#if SP_VECTORS
/* even and odd lanes of two vectors (a's, then b's): __builtin_shufflevector on GCC 12+ and Clang */
#if SP_LANES == 4
#define SP_EVEN 0, 2, 4, 6
#define SP_ODD 1, 3, 5, 7
#elif SP_LANES == 8
#define SP_EVEN 0, 2, 4, 6, 8, 10, 12, 14
#define SP_ODD 1, 3, 5, 7, 9, 11, 13, 15
#else
#define SP_EVEN 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30
#define SP_ODD 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31

#endif
#if defined(__clang__) || __GNUC__ >= 12
#define SP_SHUFFLE(V, M, a, b, ...) ((V)__builtin_shufflevector(a, b, __VA_ARGS__))
#else /* M: the integer vector type of V's lanes */
#define SP_SHUFFLE(V, M, a, b, ...) __builtin_shuffle(a, b, (M){__VA_ARGS__})

#endif
#endif

/* Scalar rules, shared by the vector code's tails and the plain-loop build.
 * TAKES: v replaces the running maximum of earlier taps (greater, or the first NaN).
 * LATER: v (key earlier than best's when `before`) replaces best found in any order. */
#define SP_TAKES_F(v, b) (((b) == (b)) & !((v) <= (b)))
#define SP_TAKES_I(v, b) ((v) > (b))
#define SP_LATER_F(v, b, before) ((((b) != (b)) & ((v) != (v)) & (before)) \
    | (((b) == (b)) & (((v) != (v)) | ((v) > (b)) | (((v) == (b)) & (before)))))
#define SP_LATER_I(v, b, before) (((v) > (b)) | (((v) == (b)) & (before)))

/* The scalar loops over windows q0 <= q < n: the vector versions' tails and the plain build. */
#define SP_WINFIRST_TAIL(T, TAKES, q0)                                                                      \
    for (sp_ssize qq = (q0); qq < n; qq++) {                                                                 \
        T best = pv[toff[0] + qq];                                                                         \
        int32_t bj = 0;                                                                                   \
        for (sp_ssize j = 1; j < kw; j++) {                                                               \
            T v = pv[toff[j] + qq];                                                                        \
            int t = TAKES(v, best);                                                                       \
            best = t ? v : best;                                                                          \
            bj = t ? (int32_t)j : bj;                                                                     \
        }                                                                                                 \
        ov[qq] = best;                                                                                     \
        if (oj) oj[qq] = bj;                                                                               \
    }
#define SP_WINMAX_TAIL(T, LATER, q0)                                                                        \
    for (sp_ssize qq = (q0); qq < n; qq++) {                                                                 \
        T best = pv[toff[0] + qq];                                                                         \
        int32_t bk = pk[toff[0] + qq];                                                                     \
        for (sp_ssize j = 1; j < kw; j++) {                                                               \
            T v = pv[toff[j] + qq];                                                                        \
            int32_t k = pk[toff[j] + qq];                                                                  \
            int t = LATER(v, best, k < bk);                                                               \
            best = t ? v : best;                                                                          \
            bk = t ? k : bk;                                                                              \
        }                                                                                                 \
        ov[qq] = best;                                                                                     \
        ok[qq] = bk;                                                                                       \
    }

#define SP_WINCL_TAIL(T, TAKES, c0)                                                                         \
    for (sp_ssize cc = (c0); cc < C; cc++) {                                                              \
        T best = xp[toffs[0] + cc];                                                                       \
        int32_t key = tkeys[0];                                                                           \
        for (sp_ssize t = 1; t < ntaps; t++) {                                                            \
            T v = xp[toffs[t] + cc];                                                                      \
            int m = TAKES(v, best);                                                                       \
            best = m ? v : best;                                                                          \
            key = m ? tkeys[t] : key;                                                                     \
        }                                                                                                 \
        yo[cc] = best;                                                                                    \
        if (ko) ko[cc] = key;                                                                             \
    }

/* The exact form of sp_colmax: columns c0 + [0, n), nothing read outside them. */
#define SP_DEFINE_EXACT(T, N, TAKES)                                                                        \
static inline void sp_colmax_exact_##N(const T* blk, const sp_ssize* offs, const int32_t* keys,          \
                                       sp_ssize nr, sp_ssize c0, sp_ssize kshift, sp_ssize n, T* dv, int32_t* dk) {        \
    for (sp_ssize c = 0; c < n; c++) {                                                                    \
        T acc = blk[offs[0] + c0 + c];                                                                    \
        int32_t key = (int32_t)(keys[0] + kshift + c0 + c);                                                        \
        for (sp_ssize m = 1; m < nr; m++) {                                                               \
            T w = blk[offs[m] + c0 + c];                                                                  \
            int t = TAKES(w, acc);                                                                        \
            acc = t ? w : acc;                                                                            \
            key = t ? (int32_t)(keys[m] + kshift + c0 + c) : key;                                                  \
        }                                                                                                 \
        dv[c] = acc;                                                                                      \
        if (dk) dk[c] = key;                                                                              \
    }                                                                                                     \
}

/* sp_colmax_<T>(blk, offs, keys, nr, c0, kshift, nchunks, dv, dk): for the columns c0 + [0, nchunks * SP_LANES)
 *   of the nr input rows starting at blk + offs[m], the first maximum of each column over the rows (rows in
 *   order) and its key keys[m] + kshift + column: dv[c], dk[c]. Reads every row over whole vectors: the
 *   caller makes sure they lie inside the input (else it calls the _exact form, which reads the columns
 *   c0 + [0, n)).
 *   dk may be NULL: no keys.
 * sp_colmax2_<T>(blk, offs, keys, nr, c0, kshift, npairs, ev, od, ek, ok): sp_colmax over 2 * npairs * SP_LANES
 *   columns, stored split by phase: even columns (c0, c0 + 2, ...) in ev, odd ones in od (keys in ek, ok). 
 * sp_wincl_<T>(xp, toffs, tkeys, ntaps, C, yo, ko): one channels-last window: for each of C channels, the
 *   first maximum over the taps xp[toffs[t] + c] in order (row-major) and the key tkeys[t] of its tap.
 * sp_winmax_<T>(pv, pk, toff, kw, n, ov, ok): for windows q in [0, n), the maximum over taps j < kw of
 *   (pv[toff[j] + q], pk[toff[j] + q]) by value, then key: ov[q], ok[q].
 * sp_winfirst_<T>(pv, toff, kw, n, ov, oj): the same without keys, taps in order (their order is row-major:
 *   the cells hold one input row each), and the tap j of the maximum in oj[q] (oj may be NULL). */
#if SP_VECTORS

/* lanes of b where the mask t is set, else of c */
#define SP_SEL(N, t, b, c) ((sp_v_##N)(((t) & (sp_m_##N)(b)) | (~(t) & (sp_m_##N)(c))))

#define SP_DEFINE(T, N, M, TAKES, LATER, IS_FLOAT)                                                          \
typedef T sp_v_##N __attribute__((vector_size(sizeof(T) * SP_LANES), aligned(sizeof(T)), may_alias));    \
typedef M sp_m_##N __attribute__((vector_size(sizeof(T) * SP_LANES), aligned(sizeof(T)), may_alias));    \
static inline void sp_colmax_##N(const T* blk, const sp_ssize* offs, const int32_t* keys, sp_ssize nr,   \
                                 sp_ssize c0, sp_ssize kshift, sp_ssize nchunks, T* dv, int32_t* dk) {                     \
    for (sp_ssize k = 0; k < nchunks; k++) {                                                              \
        sp_ssize c = c0 + k * SP_LANES;                                                                   \
        sp_v_##N acc = *(const sp_v_##N*)(blk + offs[0] + c);                                             \
        sp_kv key = SP_IOTA + (int32_t)(keys[0] + kshift + c);                                                     \
        for (sp_ssize m = 1; m < nr; m++) {                                                               \
            sp_v_##N w = *(const sp_v_##N*)(blk + offs[m] + c);                                           \
            sp_m_##N t = IS_FLOAT ? (sp_m_##N)((acc == acc) & ~(w <= acc)) : (sp_m_##N)(w > acc); \
            acc = SP_SEL(N, t, w, acc);                                                                  \
            sp_kv tk = __builtin_convertvector(t, sp_kv);                                                 \
            key = (tk & (SP_IOTA + (int32_t)(keys[m] + kshift + c))) | (~tk & key);                                \
        }                                                                                                 \
        *(sp_v_##N*)(dv + k * SP_LANES) = acc;                                                            \
        if (dk) *(sp_kv*)(dk + k * SP_LANES) = key;                                                       \
    }                                                                                                     \
}                                                                                                         \
static inline void sp_colmax2_##N(const T* blk, const sp_ssize* offs, const int32_t* keys, sp_ssize nr,  \
                                  sp_ssize c0, sp_ssize kshift, sp_ssize npairs, T* ev, T* od, int32_t* ek, int32_t* ok) { \
    for (sp_ssize k = 0; k < npairs; k++) {                                                               \
        sp_ssize c = c0 + 2 * k * SP_LANES;                                                               \
        sp_v_##N a0 = *(const sp_v_##N*)(blk + offs[0] + c);                                              \
        sp_v_##N a1 = *(const sp_v_##N*)(blk + offs[0] + c + SP_LANES);                                   \
        sp_kv k0 = SP_IOTA + (int32_t)(keys[0] + kshift + c), k1 = k0 + SP_LANES;                                  \
        for (sp_ssize m = 1; m < nr; m++) {                                                               \
            sp_v_##N w0 = *(const sp_v_##N*)(blk + offs[m] + c);                                          \
            sp_v_##N w1 = *(const sp_v_##N*)(blk + offs[m] + c + SP_LANES);                               \
            sp_m_##N t0 = IS_FLOAT ? (sp_m_##N)((a0 == a0) & ~(w0 <= a0)) : (sp_m_##N)(w0 > a0);          \
            sp_m_##N t1 = IS_FLOAT ? (sp_m_##N)((a1 == a1) & ~(w1 <= a1)) : (sp_m_##N)(w1 > a1);          \
            a0 = SP_SEL(N, t0, w0, a0);                                                                   \
            a1 = SP_SEL(N, t1, w1, a1);                                                                   \
            sp_kv tk0 = __builtin_convertvector(t0, sp_kv), tk1 = __builtin_convertvector(t1, sp_kv);     \
            sp_kv m0 = SP_IOTA + (int32_t)(keys[m] + kshift + c);                                                  \
            k0 = (tk0 & m0) | (~tk0 & k0);                                                                \
            k1 = (tk1 & (m0 + SP_LANES)) | (~tk1 & k1);                                                   \
        }                                                                                                 \
        *(sp_v_##N*)(ev + k * SP_LANES) = SP_SHUFFLE(sp_v_##N, sp_m_##N, a0, a1, SP_EVEN);                          \
        *(sp_v_##N*)(od + k * SP_LANES) = SP_SHUFFLE(sp_v_##N, sp_m_##N, a0, a1, SP_ODD);                           \
        if (ek) {                                                                                         \
            *(sp_kv*)(ek + k * SP_LANES) = SP_SHUFFLE(sp_kv, sp_kv, k0, k1, SP_EVEN);                            \
            *(sp_kv*)(ok + k * SP_LANES) = SP_SHUFFLE(sp_kv, sp_kv, k0, k1, SP_ODD);                             \
        }                                                                                                 \
    }                                                                                                     \
}                                                                                                         \
static inline void sp_wincl_##N(const T* xp, const sp_ssize* toffs, const int32_t* tkeys, sp_ssize ntaps, \
                                sp_ssize C, T* yo, int32_t* ko) {                                         \
    sp_ssize c = 0;                                                                                       \
    for (; c + SP_LANES <= C; c += SP_LANES) {                                                            \
        sp_v_##N best = *(const sp_v_##N*)(xp + toffs[0] + c);                                            \
        sp_kv key = (SP_IOTA - SP_IOTA) + tkeys[0];                                                       \
        for (sp_ssize t = 1; t < ntaps; t++) {                                                            \
            sp_v_##N v = *(const sp_v_##N*)(xp + toffs[t] + c);                                           \
            sp_m_##N m = IS_FLOAT ? (sp_m_##N)((best == best) & ~(v <= best)) : (sp_m_##N)(v > best);     \
            best = SP_SEL(N, m, v, best);                                                                 \
            sp_kv mk = __builtin_convertvector(m, sp_kv);                                                 \
            key = (mk & tkeys[t]) | (~mk & key);                                                          \
        }                                                                                                 \
        *(sp_v_##N*)(yo + c) = best;                                                                      \
        if (ko) *(sp_kv*)(ko + c) = key;                                                                  \
    }                                                                                                     \
    SP_WINCL_TAIL(T, TAKES, c)                                                                            \
}                                                                                                         \
static inline void sp_winfirst_##N(const T* pv, const sp_ssize* toff, sp_ssize kw, sp_ssize n, T* ov,    \
                                   int32_t* oj) {                                                         \
    sp_ssize q = 0;                                                                                       \
    for (; q + SP_LANES <= n; q += SP_LANES) {                                                            \
        sp_v_##N best = *(const sp_v_##N*)(pv + toff[0] + q);                                             \
        sp_kv bj = SP_IOTA - SP_IOTA;                                                                     \
        for (sp_ssize j = 1; j < kw; j++) {                                                               \
            sp_v_##N v = *(const sp_v_##N*)(pv + toff[j] + q);                                            \
            sp_m_##N t = IS_FLOAT ? (sp_m_##N)((best == best) & ~(v <= best)) : (sp_m_##N)(v > best);     \
            best = SP_SEL(N, t, v, best);                                                                 \
            sp_kv tk = __builtin_convertvector(t, sp_kv);                                                 \
            bj = (tk & (int32_t)j) | (~tk & bj);                                                          \
        }                                                                                                 \
        *(sp_v_##N*)(ov + q) = best;                                                                      \
        if (oj) *(sp_kv*)(oj + q) = bj;                                                                   \
    }                                                                                                     \
    SP_WINFIRST_TAIL(T, TAKES, q)                                                                         \
}                                                                                                         \
static inline void sp_winmax_##N(const T* pv, const int32_t* pk, const sp_ssize* toff, sp_ssize kw,     \
                                 sp_ssize n, T* ov, int32_t* ok) {                                        \
    sp_ssize q = 0;                                                                                       \
    for (; q + SP_LANES <= n; q += SP_LANES) {                                                            \
        sp_v_##N best = *(const sp_v_##N*)(pv + toff[0] + q);                                             \
        sp_kv bk = *(const sp_kv*)(pk + toff[0] + q);                                                     \
        for (sp_ssize j = 1; j < kw; j++) {                                                               \
            sp_v_##N v = *(const sp_v_##N*)(pv + toff[j] + q);                                            \
            sp_kv k = *(const sp_kv*)(pk + toff[j] + q);                                                  \
            sp_kv before = k < bk, t;                                                                     \
            if (IS_FLOAT)                                                                                 \
                t = (__builtin_convertvector((sp_m_##N)((best != best) & (v != v)), sp_kv) & before)      \
                    | (__builtin_convertvector((sp_m_##N)((best == best) & ((v != v) | (v > best))), sp_kv)\
                       | (__builtin_convertvector((sp_m_##N)((best == best) & (v == best)), sp_kv) & before));\
            else                                                                                          \
                t = __builtin_convertvector((sp_m_##N)(v > best), sp_kv)                                  \
                    | (__builtin_convertvector((sp_m_##N)(v == best), sp_kv) & before);                   \
            best = SP_SEL(N, __builtin_convertvector(t, sp_m_##N), v, best);                             \
            bk = (t & k) | (~t & bk);                                                                     \
        }                                                                                                 \
        *(sp_v_##N*)(ov + q) = best;                                                                      \
        *(sp_kv*)(ok + q) = bk;                                                                           \
    }                                                                                                     \
    SP_WINMAX_TAIL(T, LATER, q)                                                                           \
}

#else /* plain loops */

#define SP_DEFINE(T, N, M, TAKES, LATER, IS_FLOAT)                                                          \
static inline void sp_colmax_##N(const T* blk, const sp_ssize* offs, const int32_t* keys, sp_ssize nr,   \
                                 sp_ssize c0, sp_ssize kshift, sp_ssize nchunks, T* dv, int32_t* dk) {                     \
    sp_colmax_exact_##N(blk, offs, keys, nr, c0, kshift, nchunks * SP_LANES, dv, dk);                             \
}                                                                                                         \
static inline void sp_colmax2_##N(const T* blk, const sp_ssize* offs, const int32_t* keys, sp_ssize nr,  \
                                  sp_ssize c0, sp_ssize kshift, sp_ssize npairs, T* ev, T* od, int32_t* ek, int32_t* ok) { \
    for (sp_ssize i = 0; i < npairs * SP_LANES; i++) {                                                    \
        sp_colmax_exact_##N(blk, offs, keys, nr, c0 + 2 * i, kshift, 1, ev + i, ek ? ek + i : NULL);             \
        sp_colmax_exact_##N(blk, offs, keys, nr, c0 + 2 * i + 1, kshift, 1, od + i, ok ? ok + i : NULL);         \
    }                                                                                                     \
}                                                                                                         \
static inline void sp_wincl_##N(const T* xp, const sp_ssize* toffs, const int32_t* tkeys, sp_ssize ntaps, \
                                sp_ssize C, T* yo, int32_t* ko) {                                         \
    SP_WINCL_TAIL(T, TAKES, 0)                                                                            \
}                                                                                                         \
static inline void sp_winfirst_##N(const T* pv, const sp_ssize* toff, sp_ssize kw, sp_ssize n, T* ov,    \
                                   int32_t* oj) {                                                         \
    SP_WINFIRST_TAIL(T, TAKES, 0)                                                                         \
}                                                                                                         \
static inline void sp_winmax_##N(const T* pv, const int32_t* pk, const sp_ssize* toff, sp_ssize kw,     \
                                 sp_ssize n, T* ov, int32_t* ok) {                                        \
    SP_WINMAX_TAIL(T, LATER, 0)                                                                           \
}


#endif

#define SP_ALL(T, N, M, IS_FLOAT, TAKES, LATER) \
    SP_DEFINE_EXACT(T, N, TAKES) \
    SP_DEFINE(T, N, M, TAKES, LATER, IS_FLOAT)

SP_ALL(float, float, int32_t, 1, SP_TAKES_F, SP_LATER_F)
SP_ALL(double, double, int64_t, 1, SP_TAKES_F, SP_LATER_F)
SP_ALL(int8_t, int8_t, int8_t, 0, SP_TAKES_I, SP_LATER_I)
SP_ALL(int16_t, int16_t, int16_t, 0, SP_TAKES_I, SP_LATER_I)
SP_ALL(int32_t, int32_t, int32_t, 0, SP_TAKES_I, SP_LATER_I)
SP_ALL(int64_t, int64_t, int64_t, 0, SP_TAKES_I, SP_LATER_I)
SP_ALL(uint8_t, uint8_t, int8_t, 0, SP_TAKES_I, SP_LATER_I)
SP_ALL(uint16_t, uint16_t, int16_t, 0, SP_TAKES_I, SP_LATER_I)
SP_ALL(uint32_t, uint32_t, int32_t, 0, SP_TAKES_I, SP_LATER_I)
SP_ALL(uint64_t, uint64_t, int64_t, 0, SP_TAKES_I, SP_LATER_I)


/* sp_winsum_<T>_<R>(pv, toff, soff, ns, kw, n, ov): for windows q in [0, n), the sum in R of
 *   pv[soff[m] + toff[j] + q] over the slots m < ns, then the taps j < kw, in that order, from +0. */
#if SP_VECTORS
#define SP_DEFINE_SUM(T, N, R, RN)                                                                          \
typedef R sp_r_##N##_##RN __attribute__((vector_size(sizeof(R) * SP_LANES), aligned(sizeof(R)), may_alias));\
static inline void sp_winsum_##N##_##RN(const T* pv, const sp_ssize* toff, const sp_ssize* soff,         \
                                        sp_ssize ns, sp_ssize kw, sp_ssize n, R* ov) {                    \
    sp_ssize q = 0;                                                                                       \
    for (; q + SP_LANES <= n; q += SP_LANES) {                                                            \
        sp_r_##N##_##RN acc = {0};                                                                        \
        for (sp_ssize m = 0; m < ns; m++)                                                                 \
            for (sp_ssize j = 0; j < kw; j++)                                                             \
                acc += __builtin_convertvector(*(const sp_v_##N*)(pv + soff[m] + toff[j] + q),            \
                                               sp_r_##N##_##RN);                                          \
        *(sp_r_##N##_##RN*)(ov + q) = acc;                                                                \
    }                                                                                                     \
    SP_WINSUM_TAIL(R, q)                                                                                  \
}
#else
#define SP_DEFINE_SUM(T, N, R, RN)                                                                          \
static inline void sp_winsum_##N##_##RN(const T* pv, const sp_ssize* toff, const sp_ssize* soff,         \
                                        sp_ssize ns, sp_ssize kw, sp_ssize n, R* ov) {                    \
    SP_WINSUM_TAIL(R, 0)                                                                                  \
}
#endif
#define SP_WINSUM_TAIL(R, q0)                                                                               \
    for (sp_ssize qq = (q0); qq < n; qq++) {                                                              \
        R acc = 0;                                                                                        \
        for (sp_ssize m = 0; m < ns; m++)                                                                 \
            for (sp_ssize j = 0; j < kw; j++)                                                             \
                acc += (R)pv[soff[m] + toff[j] + qq];                                                     \
        ov[qq] = acc;                                                                                     \
    }

#define SP_SUMS(T, N) SP_DEFINE_SUM(T, N, float, float) SP_DEFINE_SUM(T, N, double, double)
SP_SUMS(float, float)
SP_SUMS(double, double)
SP_SUMS(int8_t, int8_t)
SP_SUMS(int16_t, int16_t)
SP_SUMS(int32_t, int32_t)
SP_SUMS(int64_t, int64_t)
SP_SUMS(uint8_t, uint8_t)
SP_SUMS(uint16_t, uint16_t)
SP_SUMS(uint32_t, uint32_t)
SP_SUMS(uint64_t, uint64_t)

/* sp_<NAME>_<T>(src, n, y, init) (float, double), NAME one of lowpairs, highpairs (NaN propagating) and
 *   lownanpairs, highnanpairs (NaN ignored): for q in [0, n), the minimum (maximum) of y[q] (not with init) and
 *   src[2q], src[2q + 1], in that order, into y[q]. NaN propagating keeps the first NaN and the first of equal
 *   values (the cell max pooling picks; -max(-x) for the minimum); NaN ignored, the first of equal non-NaN
 *   values (a NaN stays only while no value came). Block reductions of block_reduce over pairs of columns. */
#define SP_HIGH_S(v, b) (((b) == (b)) & !((v) <= (b)))
#define SP_LOW_S(v, b) (((b) == (b)) & !((v) >= (b)))
#define SP_HIGHNAN_S(v, b) (((v) > (b)) | (((b) != (b)) & ((v) == (v))))
#define SP_LOWNAN_S(v, b) (((v) < (b)) | (((b) != (b)) & ((v) == (v))))
#define SP_PICK_S(v, b, TAKE) (TAKE(v, b) ? (v) : (b))
#define SP_PAIRS_TAIL(q0, TAKE)                                                                             \
    for (sp_ssize qq = (q0); qq < n; qq++) {                                                              \
        y[qq] = SP_PICK_S(src[2 * qq + 1], init ? src[2 * qq] : SP_PICK_S(src[2 * qq], y[qq], TAKE), TAKE); \
    }
#if SP_VECTORS
#define SP_HIGH_V(v, b) (((b) == (b)) & ~((v) <= (b)))
#define SP_LOW_V(v, b) (((b) == (b)) & ~((v) >= (b)))
#define SP_HIGHNAN_V(v, b) (((v) > (b)) | (((b) != (b)) & ((v) == (v))))
#define SP_LOWNAN_V(v, b) (((v) < (b)) | (((b) != (b)) & ((v) == (v))))
#define SP_PICK_V(N, v, b, TAKE) SP_SEL(N, (sp_m_##N)(TAKE(v, b)), v, b)
#define SP_DEFINE_PAIRS(T, N, NAME, VTAKE, STAKE)                                                           \
static inline void sp_##NAME##_##N(const T* src, sp_ssize n, T* y, int init) {                            \
    sp_ssize q = 0;                                                                                       \
    for (; q + SP_LANES <= n; q += SP_LANES) {                                                            \
        sp_v_##N a = *(const sp_v_##N*)(src + 2 * q), b = *(const sp_v_##N*)(src + 2 * q + SP_LANES);     \
        sp_v_##N e = SP_SHUFFLE(sp_v_##N, sp_m_##N, a, b, SP_EVEN);                                        \
        sp_v_##N o = SP_SHUFFLE(sp_v_##N, sp_m_##N, a, b, SP_ODD);                                         \
        sp_v_##N best = init ? e : SP_PICK_V(N, e, *(const sp_v_##N*)(y + q), VTAKE);                      \
        *(sp_v_##N*)(y + q) = SP_PICK_V(N, o, best, VTAKE);                                               \
    }                                                                                                     \
    SP_PAIRS_TAIL(q, STAKE)                                                                               \
}
#else
#define SP_DEFINE_PAIRS(T, N, NAME, VTAKE, STAKE)                                                           \
static inline void sp_##NAME##_##N(const T* src, sp_ssize n, T* y, int init) {                            \
    SP_PAIRS_TAIL(0, STAKE)                                                                               \
}
#endif
#define SP_PAIRS(NAME, VTAKE, STAKE) \
    SP_DEFINE_PAIRS(float, float, NAME, VTAKE, STAKE) SP_DEFINE_PAIRS(double, double, NAME, VTAKE, STAKE)
SP_PAIRS(lowpairs, SP_LOW_V, SP_LOW_S)
SP_PAIRS(highpairs, SP_HIGH_V, SP_HIGH_S)
SP_PAIRS(lownanpairs, SP_LOWNAN_V, SP_LOWNAN_S)
SP_PAIRS(highnanpairs, SP_HIGHNAN_V, SP_HIGHNAN_S)

/* sp_nanblocks_<T>(r0, r1, n, y, mean, empty) (float, double): for the 2 x 2 blocks q in [0, n) of the rows
 *   r0 and r1, the sum from +0 of r0[2q], r0[2q + 1], r1[2q], r1[2q + 1] in that order with NaN added as +0,
 *   divided by the number of non-NaN cells with mean; empty where all four are NaN. block_reduce's nansum and
 *   nanmean of 2 x 2 blocks. */
#define SP_NANBLOCKS_TAIL(T, q0)                                                                            \
    for (sp_ssize qq = (q0); qq < n; qq++) {                                                              \
        T c4[4] = {r0[2 * qq], r0[2 * qq + 1], r1[2 * qq], r1[2 * qq + 1]};                                \
        T acc = 0;                                                                                        \
        int cnt = 0;                                                                                      \
        for (int k = 0; k < 4; k++) {                                                                     \
            acc = acc + (c4[k] == c4[k] ? c4[k] : (T)0);                                                  \
            cnt += c4[k] == c4[k];                                                                        \
        }                                                                                                 \
        y[qq] = cnt == 0 ? empty : mean ? acc / (T)cnt : acc;                                             \
    }
#if SP_VECTORS
#define SP_DEFINE_NANBLOCKS(T, N)                                                                           \
static inline void sp_nanblocks_##N(const T* r0, const T* r1, sp_ssize n, T* y, int mean, T empty) {      \
    sp_ssize q = 0;                                                                                       \
    const sp_v_##N zero = {0};                                                                            \
    const sp_v_##N none = zero + empty;                                                                   \
    for (; q + SP_LANES <= n; q += SP_LANES) {                                                            \
        sp_v_##N a = *(const sp_v_##N*)(r0 + 2 * q), b = *(const sp_v_##N*)(r0 + 2 * q + SP_LANES);       \
        sp_v_##N c = *(const sp_v_##N*)(r1 + 2 * q), d = *(const sp_v_##N*)(r1 + 2 * q + SP_LANES);       \
        sp_v_##N t0 = SP_SHUFFLE(sp_v_##N, sp_m_##N, a, b, SP_EVEN);                                       \
        sp_v_##N t1 = SP_SHUFFLE(sp_v_##N, sp_m_##N, a, b, SP_ODD);                                        \
        sp_v_##N t2 = SP_SHUFFLE(sp_v_##N, sp_m_##N, c, d, SP_EVEN);                                       \
        sp_v_##N t3 = SP_SHUFFLE(sp_v_##N, sp_m_##N, c, d, SP_ODD);                                        \
        sp_m_##N k0 = (sp_m_##N)(t0 == t0), k1 = (sp_m_##N)(t1 == t1);                                     \
        sp_m_##N k2 = (sp_m_##N)(t2 == t2), k3 = (sp_m_##N)(t3 == t3);                                     \
        sp_v_##N acc = zero + SP_SEL(N, k0, t0, zero);                                                    \
        acc = acc + SP_SEL(N, k1, t1, zero);                                                              \
        acc = acc + SP_SEL(N, k2, t2, zero);                                                              \
        acc = acc + SP_SEL(N, k3, t3, zero);                                                              \
        sp_m_##N cnt = -(k0 + k1 + k2 + k3);                                                              \
        sp_v_##N r = acc;                                                                                 \
        if (mean) r = acc / __builtin_convertvector(cnt, sp_v_##N);                                       \
        *(sp_v_##N*)(y + q) = SP_SEL(N, (sp_m_##N)(cnt == 0), none, r);                                   \
    }                                                                                                     \
    SP_NANBLOCKS_TAIL(T, q)                                                                               \
}
#else
#define SP_DEFINE_NANBLOCKS(T, N)                                                                           \
static inline void sp_nanblocks_##N(const T* r0, const T* r1, sp_ssize n, T* y, int mean, T empty) {      \
    SP_NANBLOCKS_TAIL(T, 0)                                                                               \
}
#endif
SP_DEFINE_NANBLOCKS(float, float)
SP_DEFINE_NANBLOCKS(double, double)

#endif
