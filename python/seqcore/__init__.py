"""seqcore: fast, exact building blocks for sequence models.

Parts:

* :mod:`seqcore.tokenize` — byte-level BPE (Hugging Face / tiktoken compatible),
  training, multi-word tokens: :class:`Tokenizer`, :class:`BpeTrainer`,
  :class:`MultiWordTokenizer`.
* :mod:`seqcore.decode` — greedy, beam and diverse beam search as a step
  machine: :class:`BeamSearch`, :class:`DiverseBeamSearch`,
  :class:`GreedySearch`, :func:`generate` (which needs torch).
* :mod:`seqcore.scan` — linear recurrences (numpy or torch in, same out).
* :mod:`seqcore.ops` — the torch custom ops behind them (needs torch).
* :mod:`seqcore.nn` — torch modules: LinearRecurrence, LRU, S4D (needs torch).

Parallel kernels share one thread pool, sized by ``SEQCORE_NUM_THREADS``
(default: all cores) or :func:`set_num_threads`.
"""

from __future__ import annotations

from seqcore import decode, errors, scan, tokenize
from seqcore._core import __version__, get_num_threads
from seqcore._threads import set_num_threads
from seqcore.decode import BeamSearch, DiverseBeamSearch, GreedySearch, generate
from seqcore.errors import InternalError, ModelFormatError, SeqcoreError, TokenizerFormatError
from seqcore.tokenize import BpeTrainer, MultiWordTokenizer, Tokenizer, WordCounts


def _check_thread_setting() -> None:
    import warnings

    from seqcore._core import default_num_threads

    try:
        default_num_threads()
    except ValueError as error:
        warnings.warn(f"{error}; using all cores instead", RuntimeWarning, stacklevel=3)


_check_thread_setting()

__all__ = [
    "BeamSearch",
    "BpeTrainer",
    "DiverseBeamSearch",
    "GreedySearch",
    "InternalError",
    "ModelFormatError",
    "MultiWordTokenizer",
    "SeqcoreError",
    "Tokenizer",
    "TokenizerFormatError",
    "WordCounts",
    "__version__",
    "decode",
    "errors",
    "generate",
    "get_num_threads",
    "scan",
    "set_num_threads",
    "tokenize",
]
