#!/usr/bin/env bash
# Rewrites constraints.txt: the versions a fresh install resolves today, for the README's set-up
# commands and .ci/run (`pip install -c constraints.txt ...`).
#
#   tools/refresh_constraints.sh            # a few minutes; then run the suite and commit
#   KEEP_VENV=DIR tools/refresh_constraints.sh   # also keep the venv it resolved in, at DIR
#
# A fresh venv outside the repository, the pinned torch (the CPU wheel; as in the README), the
# package editable with every extra pyproject.toml declares (read from it, so extras added later
# are covered), then `pip freeze` without the project itself. torch's local label (+cpu) is dropped
# so that a CUDA build of the same release satisfies the file too.
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH=2.13.0   # keep in step with the README and .ci/run
PYTHON=${PYTHON:-python3}
VENV=${KEEP_VENV:-$(mktemp -d "${TMPDIR:-/tmp}/constraints-venv.XXXXXX")}
[ -n "${KEEP_VENV:-}" ] || trap 'rm -rf "$VENV"' EXIT
start=$(date +%s)

EXTRAS=$("$PYTHON" - <<'PY'
import tomllib
with open("pyproject.toml", "rb") as handle:
    print(",".join(sorted(tomllib.load(handle)["project"]["optional-dependencies"])))
PY
)
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q "torch==$TORCH"
"$VENV/bin/python" -m pip install -q -e ".[$EXTRAS]"

tmp=$(mktemp constraints.txt.XXXXXX)
{
    echo "# Versions the test suite last passed with: pip install -c constraints.txt -e \".[test]\""
    echo "# Written by tools/refresh_constraints.sh on $(date -u +%Y-%m-%d) (Python"\
         "$("$VENV/bin/python" -c 'import platform; print(platform.python_version())'),"\
         "extras $EXTRAS); do not edit by hand."
    "$VENV/bin/python" -m pip freeze --exclude-editable \
        | grep -viE '^(dialogpt-lsp|dialogpt_lsp)([ =@]|$)|^-e |^#' \
        | sed -E 's/^(torch==[^+]+)\+.*/\1/' \
        | LC_ALL=C sort -f
} > "$tmp"
mv "$tmp" constraints.txt
echo "constraints.txt: $(grep -vc '^#' constraints.txt) packages in $(( $(date +%s) - start )) s;" \
     "key versions:"
grep -iE '^(torch|transformers|tokenizers|huggingface[-_]hub|safetensors|peft|datasets|numpy)==' \
    constraints.txt | tr '\n' ' '
echo
