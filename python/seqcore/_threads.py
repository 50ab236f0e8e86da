"""The size of the thread pool that seqcore's parallel kernels share."""

from __future__ import annotations

import operator

from seqcore import _core

#: The most threads :func:`set_num_threads` takes (1024, or the number of
#: cores when more): each thread of the pool is started for real.
MAX_NUM_THREADS: int = _core.MAX_NUM_THREADS


def set_num_threads(threads: int) -> None:
    """Sets the number of threads for later parallel calls: from 1 to
    :data:`MAX_NUM_THREADS`."""
    if isinstance(threads, bool):
        raise TypeError("the number of threads must be an int, got bool")
    try:
        count = operator.index(threads)
    except TypeError:
        raise TypeError(
            f"the number of threads must be an int, got {type(threads).__name__}"
        ) from None
    if not 1 <= count <= MAX_NUM_THREADS:
        raise ValueError(
            f"the number of threads must be at least 1 and at most {MAX_NUM_THREADS}, got {count}"
        )
    _core.set_num_threads(count)
