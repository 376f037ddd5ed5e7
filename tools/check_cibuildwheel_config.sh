#!/usr/bin/env bash
# Check [tool.cibuildwheel] in pyproject.toml without building anything (no container engine, no macOS or
# Windows machine needed), with the cibuildwheel version the workflow pins:
#   1. validate the table against cibuildwheel's own JSON schema (a misspelt option is an error);
#   2. list the build identifiers of each runner in .github/workflows/wheels.yml;
#   3. print the options cibuildwheel resolves for one identifier per runner (overrides applied).
# Usage: tools/check_cibuildwheel_config.sh        (HOST_PYTHON picks the Python, default python3)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CIBW_VERSION=$(sed -nE 's|.*uses: pypa/cibuildwheel@v([0-9.]+).*|\1|p' "$REPO/.github/workflows/wheels.yml" | head -n 1)
[[ -n $CIBW_VERSION ]] || { echo "no pypa/cibuildwheel@vX.Y.Z in wheels.yml" >&2; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/stridepool-cibw.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

"${HOST_PYTHON:-python3}" -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip install --quiet "cibuildwheel==$CIBW_VERSION" jsonschema
cd "$REPO"

echo "== cibuildwheel $CIBW_VERSION: [tool.cibuildwheel] against its JSON schema"
"$WORK/venv/bin/python" - <<'EOF'
import json, pathlib, sys, tomllib
import cibuildwheel, jsonschema
schema = json.loads((pathlib.Path(cibuildwheel.__file__).parent / "resources" / "cibuildwheel.schema.json").read_text())
table = tomllib.loads(pathlib.Path("pyproject.toml").read_text())["tool"]["cibuildwheel"]
errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in jsonschema.Draft7Validator(schema).iter_errors(table)]
print("\n".join(errors) or "valid")
sys.exit(1 if errors else 0)
EOF

for job in "ubuntu-24.04 linux x86_64" "ubuntu-24.04-arm linux aarch64" "macos-14 macos arm64" \
           "macos-15-intel macos x86_64" "windows-2022 windows AMD64"; do
    read -r runner platform arch <<<"$job"
    echo "== $runner: cibuildwheel --platform $platform --archs $arch"
    "$WORK/venv/bin/cibuildwheel" --platform "$platform" --archs "$arch" --print-build-identifiers | paste -sd ' '
done

echo "== resolved options (one identifier per runner)"
"$WORK/venv/bin/python" - <<'EOF'
from pathlib import Path
try:
    from cibuildwheel.options import CommandLineArguments, compute_options
except ImportError as e:  # internal API: skip this part if a future cibuildwheel moves it
    raise SystemExit(f"(skipped: {e})")
ids = {"linux": ["cp310-manylinux_x86_64", "cp314-musllinux_aarch64"], "macos": ["cp312-macosx_arm64", "cp313-macosx_x86_64"],
       "windows": ["cp311-win_amd64"]}
for platform, identifiers in ids.items():
    args = CommandLineArguments(platform=platform, archs=None, output_dir=Path("wheelhouse"), only=None, config_file="",
                                package_dir=Path("."), print_build_identifiers=False, allow_empty=False,
                                debug_traceback=False, enable=[], clean_cache=False)
    options = compute_options(platform, args, env={})
    for ident in identifiers:
        b = options.build_options(ident)
        print(f"{ident}:")
        for name in ("before_all", "before_build", "environment", "repair_command", "test_environment", "test_command",
                     "test_sources", "test_extras"):
            print(f"    {name:17s} {getattr(b, name, '?')}")
EOF
