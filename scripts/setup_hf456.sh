#!/usr/bin/env bash
# Installs transformers 4.56.2 beside the main virtual environment, for the
# diverse (group) beam search tests: 4.56 is the last release with
# `_group_beam_search` built in, while the main environment keeps the current
# transformers. The packages go to their own folder with `pip install
# --target`, without torch or numpy, so that
#
#     PYTHONPATH=~/.cache/seqcore/hf456 python ...
#
# imports transformers 4.56.2 and its own tokenizers / huggingface_hub (whose
# versions 4.56 requires and the main environment's are too new for) and takes
# torch, numpy and the small generic libraries (filelock, fsspec, packaging,
# pyyaml, regex, requests, tqdm, typing-extensions, hf-xet) from the venv.
#
# Idempotent: a marker file records the pinned list; a rerun with the same
# list and an importable transformers 4.56.2 does nothing.
set -euo pipefail

SEQCORE_VENV="${SEQCORE_VENV:-$HOME/.cache/seqcore/venv}"
SEQCORE_HF456="${SEQCORE_HF456:-$HOME/.cache/seqcore/hf456}"
PYTHON="$SEQCORE_VENV/bin/python"

# transformers 4.56.2 requires tokenizers>=0.22.0,<=0.23.0,
# huggingface-hub>=0.34.0,<1.0 and safetensors>=0.4.3.
PACKAGES=(
    "transformers==4.56.2"
    "tokenizers==0.22.2"
    "huggingface_hub==0.36.2"
    "safetensors==0.6.2"
)
MARKER="$SEQCORE_HF456/.seqcore-hf456"
WANT="${PACKAGES[*]}"

installed_ok() {
    [ -f "$MARKER" ] && [ "$(cat "$MARKER")" = "$WANT" ] &&
        PYTHONPATH="$SEQCORE_HF456" "$PYTHON" -c \
            "import transformers, sys; sys.exit(transformers.__version__ != '4.56.2')" \
            2>/dev/null
}

if [ ! -x "$PYTHON" ]; then
    echo "setup_hf456: no virtual environment at $SEQCORE_VENV (run scripts/env.sh first)" >&2
    exit 1
fi

if installed_ok; then
    echo "== transformers 4.56.2 already at $SEQCORE_HF456"
    exit 0
fi

echo "== installing transformers 4.56.2 into $SEQCORE_HF456"
# A half-finished or outdated folder is replaced whole: --target does not
# remove files of versions it replaces cleanly.
rm -rf "$SEQCORE_HF456"
mkdir -p "$SEQCORE_HF456"
"$PYTHON" -m pip install --quiet --no-deps --target "$SEQCORE_HF456" "${PACKAGES[@]}"
# --target also drops console scripts there; they are not needed.
rm -rf "$SEQCORE_HF456/bin"
echo "$WANT" >"$MARKER"

if ! installed_ok; then
    echo "setup_hf456: transformers 4.56.2 does not import from $SEQCORE_HF456" >&2
    exit 1
fi
echo "== transformers 4.56.2 ready"
