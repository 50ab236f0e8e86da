"""The thread pool: its size setting, and safety after fork."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import seqcore


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


def test_environment_variable_sets_the_pool_size():
    result = run_python("import seqcore; print(seqcore.get_num_threads())", SEQCORE_NUM_THREADS="3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "3"


@pytest.mark.parametrize("setting", ["lots", "0", "10000000"])
def test_invalid_environment_variable_warns_and_uses_all_cores(setting: str):
    result = run_python(
        "import seqcore; print(seqcore.get_num_threads())", SEQCORE_NUM_THREADS=setting
    )
    assert result.returncode == 0, result.stderr
    assert "SEQCORE_NUM_THREADS must be a whole number from 1 to" in result.stderr
    assert int(result.stdout.strip()) == os.cpu_count()


def test_set_num_threads_round_trips():
    before = seqcore.get_num_threads()
    try:
        seqcore.set_num_threads(5)
        assert seqcore.get_num_threads() == 5
    finally:
        seqcore.set_num_threads(before)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_finishes_after_the_parent_used_the_pool():
    code = """
        import os, sys
        import numpy as np
        import seqcore
        seqcore.set_num_threads(2)
        a = np.random.default_rng(0).uniform(size=(4, 500, 300)).astype(np.float32)
        parent = seqcore.scan.linear(a, a)          # the pool's threads exist now
        pid = os.fork()
        if pid == 0:
            child = seqcore.scan.linear(a, a)        # must not wait for missing threads
            ok = np.array_equal(child, parent) and seqcore.get_num_threads() == 1
            os._exit(0 if ok else 3)
        _, status = os.waitpid(pid, 0)
        sys.exit(os.waitstatus_to_exitcode(status))
    """
    result = run_python(code)
    assert result.returncode == 0, result.stderr


def test_calls_from_many_python_threads_at_once():
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(0)
    inputs = [rng.uniform(size=(2, 200, 70)) for _ in range(16)]
    want = [seqcore.scan.linear(x, x) for x in inputs]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda x: seqcore.scan.linear(x, x), inputs))
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
