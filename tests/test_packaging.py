"""The package's promises: numpy-only import, torch hint, stubs, CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

BLOCK_TORCH = """
    import importlib.abc, sys
    class NoTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ModuleNotFoundError(f"No module named {name!r}")
    sys.meta_path.insert(0, NoTorch())
"""


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300
    )


def test_import_works_without_torch():
    result = run_python(
        BLOCK_TORCH
        + """
    import numpy as np
    import seqcore
    assert "torch" not in sys.modules
    h = seqcore.scan.linear(np.full((1, 2, 1), 0.5), np.ones((1, 2, 1)))
    assert h.tolist() == [[[1.0], [1.5]]]
    for name in ("seqcore.nn", "seqcore.ops"):
        try:
            __import__(name)
        except ImportError as error:
            assert "needs PyTorch" in str(error) and "pip install" in str(error), error
        else:
            raise AssertionError(name + " imported without torch")
    print("ok")
    """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_stub_matches_the_native_module():
    pytest.importorskip("mypy")
    result = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "seqcore._core"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_demo_runs_from_the_command_line():
    pytest.importorskip("torch")
    result = subprocess.run(
        [sys.executable, "-m", "seqcore", "demo", "--seconds", "3"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert "eval MSE" in result.stdout and "faster" in result.stdout
    assert "diverse beam search: distinct" in result.stdout
    assert "held-out label accuracy, SPN order-3 CRF" in result.stdout


def test_version_is_exposed():
    import seqcore

    assert seqcore.__version__.count(".") == 2
