"""What the bench scripts record about the machine and the checkout they ran on (shared by run.py,
ecosystem.py, bridges.py and bridges_jax.py)."""
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def prefer_checkout():
    """Import stridepool from this checkout's src/ when the extension is built there (else the installed one);
    call before the first ``import stridepool``."""
    src = ROOT / "src"
    if any((src / "stridepool").glob("_kernels*.so")) and str(src) not in sys.path:
        sys.path.insert(0, str(src))

#: the instruction-set extensions the kernels' builds use (baseline: SSE up to 4.2 on x86-64; avx2: AVX2 and
#: FMA; avx512: AVX-512 F, BW, DQ and VL), as /proc/cpuinfo names them, with the names to print
ISA_FLAGS = {"sse4_2": "sse4.2", "avx2": "avx2", "fma": "fma", "avx512f": "avx512f", "avx512bw": "avx512bw",
             "avx512dq": "avx512dq", "avx512vl": "avx512vl"}
#: the same features in NumPy's own CPU detection (the fallback where /proc/cpuinfo is missing)
_NUMPY_FEATURES = {"sse4_2": "SSE42", "avx2": "AVX2", "fma": "FMA3", "avx512f": "AVX512F", "avx512bw": "AVX512BW",
                   "avx512dq": "AVX512DQ", "avx512vl": "AVX512VL"}


def _cpuinfo(field):
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.split(":", 1)[0].strip() == field:
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model():
    """The CPU's model name (/proc/cpuinfo), else what the platform module says."""
    return _cpuinfo("model name") or platform.processor() or platform.machine() or "unknown"


def isa_flags():
    """{printed name: True/False/None} for each of ISA_FLAGS on this CPU (None: unknown), from /proc/cpuinfo's
    flags, else NumPy's CPU feature detection."""
    flags = _cpuinfo("flags")
    if flags is not None:
        have = set(flags.split())
        return {name: flag in have for flag, name in ISA_FLAGS.items()}
    try:
        try:
            from numpy._core._multiarray_umath import __cpu_features__ as features
        except ImportError:  # NumPy 1
            from numpy.core._multiarray_umath import __cpu_features__ as features
    except ImportError:
        features = {}
    return {name: features.get(_NUMPY_FEATURES[flag]) for flag, name in ISA_FLAGS.items()}


def format_isa(flags):
    """'sse4.2 avx2 fma; no avx512f ...' from isa_flags()."""
    have = [n for n, v in flags.items() if v]
    lack = [n for n, v in flags.items() if v is False]
    unknown = [n for n, v in flags.items() if v is None]
    parts = [" ".join(have) or "none of them"]
    if lack:
        parts.append("no " + " ".join(lack))
    if unknown:
        parts.append("unknown " + " ".join(unknown))
    return "; ".join(parts)


def git_commit():
    """`git describe --always --dirty` of this checkout, or None."""
    try:
        return subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True,
                              text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def loadavg():
    """The 1, 5 and 15 minute load averages (NaNs where the OS has none)."""
    try:
        return tuple(os.getloadavg())
    except (OSError, AttributeError):
        return (float("nan"),) * 3
