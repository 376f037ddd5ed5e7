"""The one array generator behind every parity test: dtypes, special values, layouts, geometries."""
import itertools

import types

import numpy as np
import pytest

FLOATS = ["float16", "float32", "float64", ">f4"]
INTS = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", ">i2"]
DTYPES = FLOATS + INTS

LAYOUTS = ["contiguous", "strided", "fortran", "transposed", "readonly"]

# (id, leading shape, (H, W), pooling kwargs). Max pooling takes all of them; avg drops dilation.
GEOMETRIES = [
    ("k2s2", (2, 3), (8, 8), dict(kernel_size=2)),
    ("k3s1-overlap", (3,), (7, 6), dict(kernel_size=3, stride=1)),
    ("k3s2p1", (2, 2), (9, 9), dict(kernel_size=3, stride=2, padding=1)),
    ("k3s2p1-ceil", (2,), (8, 10), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("k2s2-ceil-odd", (1, 2), (7, 5), dict(kernel_size=2, ceil_mode=True)),
    ("rect-k2x3-s1x2", (2,), (6, 9), dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1))),
    ("pad-pairs", (2,), (7, 8), dict(kernel_size=3, stride=2, padding=((0, 1), (1, 0)))),
    ("same-s2", (3,), (9, 7), dict(kernel_size=3, stride=2, padding="same")),
    ("same-s1-k2", (2,), (5, 6), dict(kernel_size=2, stride=1, padding="same")),
    ("valid", (2,), (6, 6), dict(kernel_size=3, stride=3, padding="valid")),
    ("dilated", (2,), (9, 9), dict(kernel_size=3, stride=1, padding=2, dilation=2)),
    ("dilated-rect-ceil", (2,), (10, 8), dict(kernel_size=(2, 3), stride=2, padding=1, dilation=(3, 1),
                                              ceil_mode=True)),
    ("k1", (2,), (4, 5), dict(kernel_size=1)),
    ("whole-plane", (3,), (5, 4), dict(kernel_size=(5, 4))),
    ("no-lead", (), (6, 7), dict(kernel_size=3, stride=2)),
    ("zero-lead", (0, 3), (8, 8), dict(kernel_size=2)),
    ("big-plane", (2,), (33, 40), dict(kernel_size=3, stride=2, padding=1)),
]


def _values(rng, shape, dtype, special):
    dt = np.dtype(dtype)
    if dt.kind == "f":
        x = rng.standard_normal(shape) * 4
        if special == "ties":
            x = np.round(x)  # many equal values: ties go to the first maximum
        elif special == "nan-inf" and x.size:
            flat = x.reshape(-1)
            pick = rng.choice(flat.size, size=max(1, flat.size // 7), replace=False)
            flat[pick[0::3]] = np.nan
            flat[pick[1::3]] = np.inf
            flat[pick[2::3]] = -np.inf
    else:
        info = np.iinfo(dt)
        if special == "extremes":
            x = rng.choice(np.array([info.min, info.max, info.min + 1, 0], dtype=dt), size=shape)
        else:
            lo, hi = max(info.min, -50), min(info.max, 50)
            x = rng.integers(lo, hi, size=shape, endpoint=True)
    return np.asarray(x).astype(dt)


def make_array(shape, dtype="float32", layout="contiguous", special="none", seed=0):
    """An array of ``shape`` with the given dtype, layout and special values (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    if layout == "contiguous":
        return _values(rng, shape, dtype, special)
    if layout == "strided":  # every other element along the last (two) axes
        n = min(len(shape), 2)
        big = _values(rng, shape[:-n] + tuple(2 * v for v in shape[-n:]), dtype, special)
        return big[(Ellipsis,) + (slice(None, None, 2),) * n]
    if layout == "fortran":
        return np.asfortranarray(_values(rng, shape, dtype, special))
    if layout == "transposed":  # a view whose pooled axes are not the innermost in memory
        return _values(rng, shape[::-1], dtype, special).T
    if layout == "readonly":
        a = _values(rng, shape, dtype, special)
        a.flags.writeable = False
        return a
    raise ValueError(layout)


def _special_for(dtype, i):
    if np.dtype(dtype).kind == "f":
        return ("none", "ties", "nan-inf")[i % 3]
    return ("none", "extremes")[i % 2]


GEOMETRIES_1D = [
    ("k2s2", (2, 3), (8,), dict(kernel_size=2)),
    ("k3s1-overlap", (3,), (7,), dict(kernel_size=3, stride=1)),
    ("k3s2p1", (2, 2), (9,), dict(kernel_size=3, stride=2, padding=1)),
    ("k3s2p1-ceil", (2,), (10,), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("pad-pair", (2,), (7,), dict(kernel_size=(3,), stride=2, padding=((0, 1),))),
    ("same-s2", (3,), (9,), dict(kernel_size=3, stride=2, padding="same")),
    ("dilated-ceil", (2,), (10,), dict(kernel_size=2, stride=2, padding=1, dilation=3, ceil_mode=True)),
    ("k1", (2,), (4,), dict(kernel_size=1)),
    ("whole", (3,), (5,), dict(kernel_size=5)),
    ("no-lead", (), (13,), dict(kernel_size=3, stride=2)),
    ("zero-lead", (0, 3), (8,), dict(kernel_size=2)),
    ("long", (2,), (301,), dict(kernel_size=3, stride=2, padding=1)),
]

GEOMETRIES_3D = [
    ("k2s2", (2,), (4, 6, 6), dict(kernel_size=2)),
    ("k3s1-overlap", (2,), (4, 5, 4), dict(kernel_size=3, stride=1)),
    ("k3s2p1", (2, 2), (5, 7, 6), dict(kernel_size=3, stride=2, padding=1)),
    ("k3s2p1-ceil", (2,), (6, 6, 8), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("rect", (2,), (3, 6, 9), dict(kernel_size=(1, 2, 3), stride=(1, 1, 2), padding=(0, 1, 1))),
    ("pad-triples", (2,), (5, 7, 8), dict(kernel_size=3, stride=2, padding=((0, 1), (1, 0), (1, 1)))),
    ("same-s2", (2,), (5, 9, 7), dict(kernel_size=3, stride=2, padding="same")),
    ("dilated", (1,), (7, 7, 7), dict(kernel_size=2, stride=1, padding=1, dilation=(3, 2, 1))),
    ("whole", (3,), (2, 3, 4), dict(kernel_size=(2, 3, 4))),
    ("no-lead", (), (4, 5, 6), dict(kernel_size=3, stride=2)),
    ("zero-lead", (0, 2), (4, 4, 4), dict(kernel_size=2)),
]

GEOMETRIES_ND = {1: GEOMETRIES_1D, 2: GEOMETRIES, 3: GEOMETRIES_3D}

# (id, leading shape, pooled sizes, output_size) of adaptive pooling
ADAPTIVE = {
    1: [("div", (2, 3), (8,), 4), ("uneven", (2,), (10,), 3), ("grow", (2,), (5,), 7), ("global", (3, 2), (9,), 1),
        ("tuple-none", (2,), (6,), (None,)), ("zero-lead", (0, 2), (7,), 3)],
    2: [("div", (2, 3), (8, 6), (4, 3)), ("uneven", (2,), (10, 7), (3, 4)), ("grow", (2,), (5, 3), (7, 8)),
        ("global", (3, 2), (7, 7), 1), ("none", (2,), (6, 9), (None, 4)), ("no-lead", (), (11, 5), 3),
        ("zero-lead", (0, 2), (7, 5), 2)],
    3: [("div", (2,), (4, 6, 6), 2), ("uneven", (2,), (5, 7, 6), (2, 3, 4)), ("grow", (1,), (2, 3, 4), (3, 4, 6)),
        ("global", (2, 2), (3, 4, 5), 1), ("none", (2,), (4, 5, 3), (None, 2, None))],
}


def nd_cases(nd):
    """pytest params ``(x, kwargs)`` for ``nd`` pooled axes, as :func:`pool_cases` does for two."""
    return pool_cases(GEOMETRIES_ND[nd])


def adaptive_cases(nd):
    """pytest params ``(x, output_size)``: every adaptive case x every dtype, layouts and specials cycled."""
    params = []
    for (cid, lead, sizes, osz), (i, dtype) in itertools.product(ADAPTIVE[nd], enumerate(DTYPES)):
        layout = LAYOUTS[(i + len(cid)) % len(LAYOUTS)]
        special = _special_for(dtype, i + len(cid))
        x = make_array(lead + sizes, dtype, layout, special, seed=i)
        params.append(pytest.param(x, osz, id=f"{cid}-{dtype}-{layout}-{special}"))
    return params


def pool_cases(geometries=GEOMETRIES):
    """pytest params ``(x, kwargs)``: every geometry x every dtype, with layouts and special values cycled."""
    params = []
    for (gid, lead, hw, kw), (i, dtype) in itertools.product(geometries, enumerate(DTYPES)):
        layout = LAYOUTS[(i + len(gid)) % len(LAYOUTS)]
        special = _special_for(dtype, i + len(gid))
        x = make_array(lead + hw, dtype, layout, special, seed=i)
        params.append(pytest.param(x, kw, id=f"{gid}-{dtype}-{layout}-{special}"))
    return params


def layout_cases():
    """pytest params ``(x, kwargs)``: every layout x a few geometries, float32 and int16."""
    params = []
    for layout, (gid, lead, hw, kw), dtype in itertools.product(LAYOUTS, GEOMETRIES[:4], ["float32", "int16"]):
        x = make_array(lead + hw, dtype, layout, seed=1)
        params.append(pytest.param(x, kw, id=f"{layout}-{gid}-{dtype}"))
    return params


def avg_kwargs(kw):
    """Average pooling takes no dilation."""
    return {k: v for k, v in kw.items() if k != "dilation"}


def fold_kwargs(kw):
    """unfold/fold: no ceil_mode; the stride defaults to 1 there."""
    out = {k: v for k, v in kw.items() if k != "ceil_mode"}
    out.setdefault("stride", kw["kernel_size"])
    return out


def compiled_functions():
    """The public functions bound to the compiled core (whatever the active backend), or None without it."""
    try:
        from stridepool import _api, _compiled
    except ImportError:
        return None
    return types.SimpleNamespace(**_api.build(_compiled, "stridepool"))
