#!/usr/bin/env bash
# Build stridepool's extension modules (_kernels and, on x86-64, _kernels_avx2) with AddressSanitizer + UndefinedBehaviorSanitizer (and Cython's bounds,
# wraparound and initialisation checks) in a scratch copy of this checkout, then run the test suite under it.
#
#   bash tools/sanitize.sh                 # whole suite (slow-marked tests included, bounded)
#   bash tools/sanitize.sh -k errors -x    # extra arguments go to pytest
#   SANITIZE_DIR=/tmp/sp-asan bash tools/sanitize.sh   # keep the build somewhere known (reused if present)
#
# CPython itself is not built with ASan, so the ASan runtime must be loaded first: LD_PRELOAD=libasan.
# Leak detection is off (ASAN_OPTIONS=detect_leaks=0): the interpreter keeps objects alive at exit, which
# LeakSanitizer would report; leaks of the extension are tested by tests/test_leaks_threads.py instead.
# PYTHONMALLOC=malloc sends Python's small objects through malloc too, so ASan sees every allocation.
# Any ASan report or UBSan finding aborts the process (halt_on_error, -fno-sanitize-recover), so a clean
# pytest exit status means a clean run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${SANITIZE_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/stridepool-asan.XXXXXX")}"
CC="${CC:-gcc}"
PY="${PYTHON:-python}"

ASAN_LIB="$("$CC" -print-file-name=libasan.so)"
UBSAN_LIB="$("$CC" -print-file-name=libubsan.so)"
if [ ! -e "$ASAN_LIB" ]; then
    echo "sanitize.sh: $CC has no libasan.so (install gcc's sanitizer runtime, e.g. apt-get install libasan8)" >&2
    exit 2
fi

echo "sanitize.sh: scratch copy in $WORK"
mkdir -p "$WORK"
# Copy the tracked files (and untracked, not ignored ones) of this checkout; never the in-place build.
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard) \
    | (cd "$ROOT" && xargs -0 cp --parents -t "$WORK" 2>/dev/null || true)
rm -f "$WORK"/src/stridepool/*.so "$WORK"/src/stridepool/_kernels*.c

echo "sanitize.sh: building with STRIDEPOOL_SANITIZE=1 (ASan + UBSan, Cython bounds checks, -O0 -g)"
(cd "$WORK" && STRIDEPOOL_SANITIZE=1 CC="$CC" nice -n 10 "$PY" setup.py build_ext --inplace -q >build.log 2>&1) || {
    tail -40 "$WORK/build.log" >&2
    exit 1
}
shopt -s nullglob; SOS=("$WORK"/src/stridepool/_kernels*.so); shopt -u nullglob
if [ "${#SOS[@]}" = 0 ]; then
    echo "sanitize.sh: no extension module was built" >&2
    exit 1
fi
for SO in "${SOS[@]}"; do
    if [ "$(nm -D "$SO" | grep -c __asan_init || true)" = 0 ]; then
        echo "sanitize.sh: $SO is not instrumented with ASan" >&2
        exit 1
    fi
done

export LD_PRELOAD="$ASAN_LIB${UBSAN_LIB:+:$UBSAN_LIB}"
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export PYTHONMALLOC=malloc
export PYTHONPATH="$WORK/src"
export STRIDEPOOL_BACKEND=compiled
export HYPOTHESIS_PROFILE="${HYPOTHESIS_PROFILE:-ci}"

cd "$WORK"
echo "sanitize.sh: running the test suite under ASan/UBSan"
"$PY" -c "import stridepool, sys; assert stridepool.backend == 'compiled'; print('stridepool from', stridepool.__file__)"
set +e
nice -n 10 "$PY" -m pytest -p no:cacheprovider -q "$@" tests
status=$?
set -e
echo "sanitize.sh: pytest exit status $status (build kept in $WORK)"
exit $status
