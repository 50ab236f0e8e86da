# Sourced by scripts/demo and scripts/test: makes (or reuses) the virtual
# environment outside the clone, installs what seqcore needs, and builds
# seqcore into it. Reruns are fast: the environment and pip's cache stay.
set -euo pipefail

SEQCORE_VENV="${SEQCORE_VENV:-$HOME/.cache/seqcore/venv}"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if [ ! -x "$SEQCORE_VENV/bin/python" ]; then
    echo "== creating virtual environment at $SEQCORE_VENV"
    mkdir -p "$(dirname "$SEQCORE_VENV")"
    python3 -m venv "$SEQCORE_VENV"
    "$SEQCORE_VENV/bin/python" -m pip install --quiet --upgrade pip
fi
# shellcheck disable=SC1091
source "$SEQCORE_VENV/bin/activate"

# Installs only what is missing (pip checks quickly when all is present).
pip install --quiet -r "$REPO_ROOT/scripts/requirements-dev.txt"

echo "== building seqcore (release)"
(cd "$REPO_ROOT" && maturin develop --release --quiet)
