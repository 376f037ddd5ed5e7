"""The lean path: a call repeated with the same shapes, dtypes and parameters replays a remembered plan
(stridepool._compiled._PLANS, run by the kernels' ``lean``, which the public functions ask first). A replay must give what the full path gives,
and must never let through an argument the full path rejects (``True == 1`` and ``2.0 == 2`` hash alike)."""
import weakref

import numpy as np
import pytest

import stridepool as sp
from stridepool import reference as ref

pytestmark = pytest.mark.skipif(sp.backend != "compiled", reason="the lean path is the compiled backend's")

RNG = np.random.default_rng(7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_replays_equal_the_reference(dtype):
    x = RNG.standard_normal((2, 3, 9, 11)).astype(dtype)
    g = RNG.standard_normal((2, 3, 5, 6)).astype(dtype)
    for _ in range(3):  # the first call remembers, the next ones replay
        y, idx = sp.max_pool2d(x, 3, 2, 1, return_indices=True)
        ry, ridx = ref.max_pool2d(x, 3, 2, 1, return_indices=True)
        np.testing.assert_array_equal(y, ry)
        np.testing.assert_array_equal(idx, ridx)
        np.testing.assert_array_equal(sp.max_pool2d_backward(g, idx, x.shape),
                                      ref.max_pool2d_backward(g, ridx, x.shape))
        np.testing.assert_array_equal(sp.avg_pool2d(x, 3, 2, 1), ref.avg_pool2d(x, 3, 2, 1))
        np.testing.assert_array_equal(sp.avg_pool2d_backward(g, x.shape, 3, 2, 1),
                                      ref.avg_pool2d_backward(g, x.shape, 3, 2, 1))


def test_replay_never_admits_what_the_full_path_rejects():
    x = RNG.standard_normal((1, 2, 6, 6)).astype(np.float32)
    sp.max_pool2d(x, 1)
    sp.max_pool2d(x, 2)
    sp.max_pool2d(x, 2, return_indices=True)
    with pytest.raises(TypeError, match="kernel_size"):
        sp.max_pool2d(x, True)
    with pytest.raises(TypeError, match="kernel_size"):
        sp.max_pool2d(x, 2.0)
    with pytest.raises(TypeError, match="return_indices"):
        sp.max_pool2d(x, 2, return_indices=1)
    # unhashable arguments take the full path, which accepts sequences
    np.testing.assert_array_equal(sp.max_pool2d(x, [2, 2], stride=[2, 2]), ref.max_pool2d(x, 2))


def test_replay_with_other_memory():
    """The same key with a non-contiguous array, a different array of the same shape, bad indices."""
    x = RNG.standard_normal((2, 2, 8, 8)).astype(np.float32)
    sp.max_pool2d(x, 2)
    sp.max_pool2d(x, 2)
    wide = RNG.standard_normal((2, 2, 8, 16)).astype(np.float32)[..., ::2]
    np.testing.assert_array_equal(sp.max_pool2d(wide, 2), ref.max_pool2d(wide, 2))
    z = x + 1
    np.testing.assert_array_equal(sp.max_pool2d(z, 2), ref.max_pool2d(z, 2))
    y, idx = sp.max_pool2d(x, 2, return_indices=True)
    sp.max_pool2d_backward(y, idx, x.shape)
    bad = idx.copy()
    bad[0, 0, 0, 0] = 64
    with pytest.raises(ValueError, match="indices"):
        sp.max_pool2d_backward(y, bad, x.shape)
    assert idx[0, 0, 0, 0] != 64  # the caller's arrays are untouched


def _arrays(result):
    """A function's result as a tuple of arrays (values, or values and indices)."""
    return result if isinstance(result, tuple) else (result,)


class _NoFullPath:
    def __getattr__(self, name):
        raise AssertionError(f"the full path ran (_params.{name}) where the lean path should have")


#: the operations of the compiled core that remember plans (their full paths)
_OPERATIONS = ("max_pool", "max_pool_backward", "avg_pool", "avg_pool_backward", "adaptive_max_pool",
               "adaptive_avg_pool", "adaptive_avg_pool_backward")


def _full_path(op):
    def ran(*args, **kwargs):
        raise AssertionError(f"the core's {op} ran where the public function's lean path should have answered")
    return ran


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_repeated_calls_take_the_lean_path(nd, monkeypatch):
    """After one call, the same call again runs without the validation module or the core's operation: a hit
    of the plan's key, the key stridepool._compiled._key makes and the kernels' ``lean`` rebuilds from the
    flags and parameters the public function passes."""
    from stridepool import _compiled as C

    x = RNG.standard_normal((2, 3) + (8,) * nd).astype(np.float32)
    f = lambda name: getattr(sp, name.replace("N", str(nd)))  # noqa: E731
    y, idx = f("max_poolNd")(x, 2, return_indices=True)
    ay = f("adaptive_avg_poolNd")(x, 3)
    calls = [
        lambda: f("max_poolNd")(x, 2, return_indices=True),
        lambda: f("max_poolNd")(x, 3, 2, 1),
        lambda: f("max_poolNd_backward")(y, idx, x.shape),
        lambda: f("avg_poolNd")(x, 3, 2, 1, count_include_pad=False),
        lambda: f("avg_poolNd_backward")(y, x.shape, 2),
        lambda: f("adaptive_max_poolNd")(x, 3, return_indices=True),
        lambda: f("adaptive_avg_poolNd")(x, 3),
        lambda: f("adaptive_avg_poolNd_backward")(ay, x.shape),
    ]
    C._forget_plans()  # room for these plans (a full table is cleared, not evicted in part)
    first = [c() for c in calls]
    monkeypatch.setattr(C, "P", _NoFullPath())
    for op in _OPERATIONS:  # the public function's lean path answers: the core's operation is never called
        monkeypatch.setattr(C, op, _full_path(op))
    for c, want in zip(calls, first):
        got = c()
        for a, b in zip(_arrays(got), _arrays(want)):
            np.testing.assert_array_equal(a, b)


def test_calls_sharing_a_recent_slot_keep_their_own_answers(assert_same):
    """The kernels remember, per slot of (input bytes, operation, pooled axes), the plan that ran last, and
    recognise a call by what that plan's key holds. Inputs of the same byte count in another shape or dtype,
    and the same input with other parameters, flags or axes, alternate here: each call must still get its
    own answer, the reference's."""
    a = RNG.standard_normal((2, 1, 8, 8)).astype(np.float32)
    other_shape = a.reshape(2, 1, 4, 16)
    other_dtype = RNG.standard_normal((1, 1, 8, 8))  # float64: a's byte count
    g = RNG.standard_normal((2, 1, 4, 4)).astype(np.float32)
    calls = [
        lambda m: m.max_pool2d(a, 2),
        lambda m: m.max_pool2d(other_shape, 2),
        lambda m: m.max_pool2d(other_dtype, 2),
        lambda m: m.max_pool2d(a, 3, 1, 1),
        lambda m: m.max_pool2d(a, 3, 2, 1, ceil_mode=True),
        lambda m: m.max_pool2d(a, 3, 2, 1, ceil_mode=False),
        lambda m: m.max_pool2d(a, 2, return_indices=True),
        lambda m: m.max_pool2d(a, (2, 1), axes=(-1, -2)),
        lambda m: m.max_pool2d(a, (2, 1)),
        lambda m: m.max_pool1d(a, 2),
        lambda m: m.avg_pool2d(a, 2),
        lambda m: m.avg_pool2d(a, 3, 2, 1, count_include_pad=False),
        lambda m: m.avg_pool2d_backward(g, a.shape, 2),
        lambda m: m.avg_pool2d_backward(g, a.shape, 3, 2, 1),
        lambda m: m.avg_pool2d_backward(g, (2, 1, 7, 7), 3, 2, 1),
    ]
    for _ in range(3):
        for call in calls:
            got, want = call(sp), call(ref)
            for x, y in zip(_arrays(got), _arrays(want)):
                assert_same(x, y)


def test_recent_backward_takes_only_its_own_indices(assert_same):
    """A max backward recognised from its recent slot still reads only native int64 C-contiguous indices of
    the plan's shape: others (int32, uint64, strided, another shape of the same size) take the full path and
    give the reference's answer; a bad index is still refused, naming the argument."""
    x = RNG.standard_normal((2, 3, 8, 8)).astype(np.float32)
    y, idx = sp.max_pool2d(x, 2, return_indices=True)
    g = RNG.standard_normal(y.shape).astype(np.float32)
    want = ref.max_pool2d_backward(g, idx, x.shape)
    for _ in range(2):
        assert_same(sp.max_pool2d_backward(g, idx, x.shape), want)
    wide = np.zeros(idx.shape[:-1] + (2 * idx.shape[-1],), np.int64)
    wide[..., ::2] = idx
    for other in (idx.astype(np.int32), idx.astype(np.uint64), wide[..., ::2]):
        assert_same(sp.max_pool2d_backward(g, other, x.shape), want)
        assert_same(sp.max_pool2d_backward(g, idx, x.shape), want)
    with pytest.raises(ValueError, match="indices"):
        sp.max_pool2d_backward(g, idx.reshape(2, 3, 16, 1), x.shape)
    bad = idx.copy()
    bad[1, 2, 3, 3] = -1
    with pytest.raises(ValueError, match="indices"):
        sp.max_pool2d_backward(g, bad, x.shape)
    assert bad[1, 2, 3, 3] == -1


def _holds(kind, a):
    """What a caller keeps of result a, of each kind the reuse of small results must respect (None: nothing,
    and ``a`` is then changed in place first, as a caller may before letting it go)."""
    if kind == "array":
        return a
    if kind == "view":
        return a[..., :1]
    if kind == "memoryview":
        return memoryview(a)
    if kind == "weakref":
        return weakref.ref(a)
    if kind == "reshaped":
        a.shape = (-1,)
    elif kind == "retyped":
        a.dtype = np.int32 if a.dtype.itemsize == 4 else np.int64
    elif kind == "read-only":
        a.flags.writeable = False
    return None


_SMALL_CALLS = {
    "max": lambda m, x, g: m.max_pool2d(x, 3, 1, 1),
    "max with indices": lambda m, x, g: m.max_pool2d(x, 2, return_indices=True),
    "max backward": lambda m, x, g: m.max_pool2d_backward(g, m.max_pool2d(x, 2, return_indices=True)[1], x.shape),
    "avg": lambda m, x, g: m.avg_pool2d(x, 3, 1, 1),
    "avg backward": lambda m, x, g: m.avg_pool2d_backward(g, x.shape, 2),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("call", sorted(_SMALL_CALLS))
@pytest.mark.parametrize("kind", ["array", "view", "memoryview", "weakref", "reshaped", "retyped", "read-only",
                                  "nothing"])
def test_small_results_are_reused_only_when_let_go(kind, call, dtype, assert_same):
    """A plan writes a small result again only when the caller let it go: a result the caller still holds
    (the array, a view, a memoryview, a weak reference) keeps its values through the next calls, and a
    result the caller reshaped, retyped or made read-only before letting it go is not handed out again as
    it is. Every call gives the reference's answer, with a fresh, writable array of its own shape and dtype."""
    f = _SMALL_CALLS[call]
    xs = [RNG.standard_normal((2, 3, 6, 6)).astype(dtype) for _ in range(3)]
    g = RNG.standard_normal((2, 3, 3, 3)).astype(dtype)
    for x in xs:  # the plans made, the small results kept
        f(sp, x, g)
    held = []
    for x in xs * 2:
        got = f(sp, x, g)
        want = f(ref, x, g)
        for a, b in zip(_arrays(got), _arrays(want)):
            assert_same(a, b)
            assert a.flags.writeable and a.flags.c_contiguous and a.flags.owndata
            held.append((_holds(kind, a), b.copy()))
        del got, a
        for h, b in held:  # what the caller holds, or can still reach, is untouched by the calls after it
            if isinstance(h, weakref.ref):
                h = h()
            if h is not None:
                np.testing.assert_array_equal(np.asarray(h), b[..., :1] if kind == "view" else b)


def test_a_small_result_let_go_is_written_again():
    """The reuse happens (what the test above guards): a repeated call writes the array its previous result
    was, once the caller let it go, even with a fresh allocation of that size made in between, which a
    freed block would have gone to. A result still held gets a new array."""
    x = RNG.standard_normal((1, 1, 6, 6)).astype(np.float32)
    for _ in range(2):
        sp.avg_pool2d(x, 3, 1)
    y = sp.avg_pool2d(x, 3, 1)
    address = y.ctypes.data
    del y
    between = np.empty((1, 1, 4, 4), np.float32)
    y = sp.avg_pool2d(x, 3, 1)
    assert y.ctypes.data == address != between.ctypes.data
    assert sp.avg_pool2d(x, 3, 1).ctypes.data != address  # y is held
    np.testing.assert_array_equal(y, ref.avg_pool2d(x, 3, 1))
