"""Search configurations and the step machine's Python face.

A configuration (:class:`GreedySearch`, :class:`BeamSearch`,
:class:`DiverseBeamSearch`) is an immutable value: share it across threads,
pickle it, reuse it. ``config.start(vocab_size, prompts)`` makes a
:class:`SearchState`, which the host drives::

    state = BeamSearch(num_beams=4, eos_token_id=2).start(vocab_size, prompts)
    while not state.done:
        logprobs = model_logprobs(rows=state.active_rows)   # (rows, vocab)
        step = state.step(logprobs)     # step.tokens, step.parents, step.rows
        reorder_kv_cache(step.parents)  # new row i continues old row parents[i]
    result = state.finalize()
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from seqcore import _core

EarlyStopping = bool | Literal["never"]
Diversity = Literal["hamming", "cumulative", "ngram"]


def _int(name: str, value: object, minimum: int = 0) -> int:
    """``value`` as an int, refusing bools, floats, strings and values outside
    ``minimum..2**32 - 1`` (ids and counts are 32-bit in the machine)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if not minimum <= value <= 2**32 - 1:
        raise ValueError(f"{name} must be at least {minimum} and below 2**32, got {value}")
    return int(value)


def _real(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    return float(value)


def _id_list(name: str, values: object) -> list[int]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence | np.ndarray):
        raise TypeError(f"{name} must be a sequence of token ids, got {values!r}")
    return [_int(f"{name}[{i}]", v) for i, v in enumerate(values)]


def _eos_list(eos_token_id: int | Sequence[int] | None) -> list[int]:
    if eos_token_id is None:
        return []
    if isinstance(eos_token_id, (int, np.integer)) and not isinstance(eos_token_id, bool):
        return [_int("eos_token_id", eos_token_id)]
    if isinstance(eos_token_id, Sequence) and not isinstance(eos_token_id, (str, bytes)):
        return _id_list("eos_token_id", eos_token_id)
    raise TypeError(
        f"eos_token_id must be an int, a sequence of ints or None, got {eos_token_id!r}"
    )


def _bad_words(bad_words_ids: Sequence[Sequence[int]]) -> list[list[int]]:
    if isinstance(bad_words_ids, (str, bytes)) or not isinstance(bad_words_ids, Sequence):
        raise TypeError(
            f"bad_words_ids must be a sequence of token id sequences, got {bad_words_ids!r}"
        )
    return [_id_list(f"bad_words_ids[{i}]", words) for i, words in enumerate(bad_words_ids)]


def _early_stopping(value: EarlyStopping) -> str:
    if value is True:
        return "finish"
    if value is False:
        return "heuristic"
    if value == "never":
        return "never"
    raise ValueError(f'early_stopping must be True, False or "never", got {value!r}')


@dataclass(frozen=True, kw_only=True)
class _Common:
    max_new_tokens: int = 20
    eos_token_id: int | Sequence[int] | None = None
    pad_token_id: int | None = None
    min_new_tokens: int = 0
    no_repeat_ngram_size: int = 0
    bad_words_ids: Sequence[Sequence[int]] = ()
    _native: Any = field(init=False, repr=False, compare=False)

    def _native_args(self) -> dict[str, Any]:
        return {
            "num_beams": 1,
            "num_groups": 1,
            "diversity_strength": 0.0,
            "diversity": "hamming",
            "diversity_ngram_size": 2,
            # Greedy reports the plain sum of log-probs as its score.
            "length_penalty": 0.0,
            "early_stopping": "heuristic",
            "num_return_sequences": 1,
            "eos_token_ids": _eos_list(self.eos_token_id),
            "pad_token_id": (
                None if self.pad_token_id is None else _int("pad_token_id", self.pad_token_id)
            ),
            "min_new_tokens": _int("min_new_tokens", self.min_new_tokens),
            "max_new_tokens": _int("max_new_tokens", self.max_new_tokens, 1),
            "no_repeat_ngram_size": _int("no_repeat_ngram_size", self.no_repeat_ngram_size),
            "bad_words_ids": _bad_words(self.bad_words_ids),
        }

    def __post_init__(self) -> None:
        # Checks everything that does not depend on the vocabulary now, so a
        # bad configuration fails where it is written, not at its first use;
        # the validated native form is kept for start().
        object.__setattr__(self, "_native", _core.SearchConfig(**self._native_args()))

    def __getstate__(self) -> dict[str, Any]:
        # Pickles the plain fields; the native form is rebuilt on load.
        return {k: v for k, v in self.__dict__.items() if k != "_native"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            object.__setattr__(self, key, value)
        self.__post_init__()

    def beams_per_item(self) -> int:
        """Rows each batch item occupies (1 for greedy search)."""
        return int(self._native_args()["num_beams"])

    def start(
        self,
        vocab_size: int,
        prompts: Sequence[Sequence[int]] | npt.ArrayLike | None = None,
        *,
        batch_size: int | None = None,
        dtype: Any = np.float32,
    ) -> SearchState:
        """A fresh search over ``batch_size`` items (or one per prompt).

        ``prompts`` (token ids of each item, as the model sees them: with
        any left padding) are needed only by ``no_repeat_ngram_size`` and
        ``bad_words_ids``, which look at the whole sequence as Hugging Face
        does. ``dtype`` (float32 or float64) is the dtype of the log-probs
        the host will feed; scores are summed in it, so float32 input gives
        transformers' float32 numbers.
        """
        if prompts is None:
            if batch_size is None:
                raise ValueError("give prompts or batch_size")
            rows: list[list[int]] = [[] for _ in range(_int("batch_size", batch_size))]
        else:
            listed: Any = prompts.tolist() if hasattr(prompts, "tolist") else prompts
            if isinstance(listed, (str, bytes)) or not isinstance(listed, Sequence):
                raise TypeError(f"prompts must be a sequence of token id lists, got {prompts!r}")
            rows = [_id_list(f"prompts[{i}]", p) for i, p in enumerate(listed)]
            vocab = _int("vocab_size", vocab_size, 1)
            for i, row in enumerate(rows):
                if row and max(row) >= vocab:
                    raise IndexError(
                        f"prompts[{i}] holds token id {max(row)}, out of range for a "
                        f"vocabulary of {vocab}"
                    )
            if batch_size is not None and batch_size != len(rows):
                raise ValueError(f"batch_size is {batch_size} but {len(rows)} prompts were given")
        double = np.dtype(dtype) == np.float64
        if not double and np.dtype(dtype) != np.float32:
            raise TypeError(f"dtype must be float32 or float64, got {np.dtype(dtype)}")
        native = _core.SearchState(
            self._native, vocab_size=_int("vocab_size", vocab_size, 1), prompts=rows, double=double
        )
        args = self._native_args()
        per_group = args["num_beams"] // args["num_groups"]
        keep = max(2, 1 + len(args["eos_token_ids"])) * per_group
        # Twice what a step keeps, so bans and penalties can remove half of a
        # row's top tokens; never more than the vocabulary has.
        needed = min(2 * keep, _int("vocab_size", vocab_size, 1))
        return SearchState(native, double, needed)


@dataclass(frozen=True, kw_only=True)
class GreedySearch(_Common):
    """Greedy decoding: the most likely token at each step (transformers'
    ``num_beams=1, do_sample=False``)."""


@dataclass(frozen=True, kw_only=True)
class BeamSearch(_Common):
    """Beam search with transformers' semantics (``length_penalty``,
    ``early_stopping`` True / False / "never", ``num_return_sequences``)."""

    num_beams: int = 4
    length_penalty: float = 1.0
    early_stopping: EarlyStopping = False
    num_return_sequences: int = 1

    def _native_args(self) -> dict[str, Any]:
        args = super()._native_args()
        args.update(
            num_beams=_int("num_beams", self.num_beams, 1),
            length_penalty=_real("length_penalty", self.length_penalty),
            early_stopping=_early_stopping(self.early_stopping),
            num_return_sequences=_int("num_return_sequences", self.num_return_sequences, 1),
        )
        return args


@dataclass(frozen=True, kw_only=True)
class DiverseBeamSearch(BeamSearch):
    """Diverse beam search (Vijayakumar et al.): ``num_groups`` groups of
    ``num_beams / num_groups`` beams step one after another, and each group's
    scores are lowered by ``diversity_strength`` times how often earlier
    groups chose a token. ``diversity``: "hamming" (transformers 4.56's
    group beam search: tokens chosen at this step), "cumulative" (tokens
    chosen at any step so far), "ngram" (n-grams of ``diversity_ngram_size``
    tokens that earlier groups' beams end with at this step)."""

    num_groups: int = 2
    diversity_strength: float = 0.5
    diversity: Diversity = "hamming"
    diversity_ngram_size: int = 2

    def _native_args(self) -> dict[str, Any]:
        args = super()._native_args()
        if self.diversity not in ("hamming", "cumulative", "ngram"):
            raise ValueError(
                f'diversity must be "hamming", "cumulative" or "ngram", got {self.diversity!r}'
            )
        args.update(
            num_groups=_int("num_groups", self.num_groups, 1),
            diversity_strength=_real("diversity_strength", self.diversity_strength),
            diversity=self.diversity,
            diversity_ngram_size=_int("diversity_ngram_size", self.diversity_ngram_size, 1),
        )
        return args


class Step(NamedTuple):
    """One step's answer, one entry per row the host must feed next."""

    tokens: npt.NDArray[np.int64]
    """The token each new row appends."""
    parents: npt.NDArray[np.int64]
    """Index into the previous ``active_rows`` of the row each new row continues:
    gather the KV cache with it."""
    rows: npt.NDArray[np.int64]
    """The new active rows (global ids ``item * num_beams + beam``)."""


@dataclass(frozen=True)
class Hypothesis:
    """One returned sequence."""

    tokens: list[int]
    """Generated tokens only (no prompt); a final EOS is kept."""
    score: float
    """transformers' ``sequences_scores``: sum of ``token_scores`` over
    ``len(tokens) ** length_penalty`` (greedy: the plain sum)."""
    token_scores: list[float]
    """What each step added to the beam's score (diversity penalty included)."""
    beam_indices: list[int]
    """Per token, the row (``item * num_beams + beam``) it was chosen from."""
    group: int
    """The group of a diverse beam search that found it (0 otherwise)."""


@dataclass(frozen=True)
class SearchResult:
    """Per batch item, its best ``num_return_sequences`` hypotheses, best first."""

    hypotheses: list[list[Hypothesis]]
    groups: list[list[list[Hypothesis]]]
    """Per batch item and beam group, every hypothesis the group kept, best first."""

    def sequences(self, pad_token_id: int = 0) -> npt.NDArray[np.int64]:
        """All hypotheses' tokens as one padded array (items x returns, longest)."""
        flat = [h.tokens for item in self.hypotheses for h in item]
        width = max((len(t) for t in flat), default=0)
        out = np.full((len(flat), width), pad_token_id, dtype=np.int64)
        for i, tokens in enumerate(flat):
            out[i, : len(tokens)] = tokens
        return out

    @property
    def scores(self) -> npt.NDArray[np.float64]:
        """Every hypothesis' score, in the order of :meth:`sequences`."""
        return np.array([h.score for item in self.hypotheses for h in item], dtype=np.float64)


def _host_array(name: str, value: object, dtype: Any) -> npt.NDArray[Any]:
    """A contiguous numpy array of ``dtype`` from numpy or a (CPU or GPU) torch tensor."""
    if type(value).__module__.startswith("torch"):
        value = value.detach().cpu().numpy()  # type: ignore[attr-defined]
    if not isinstance(value, np.ndarray):
        raise TypeError(
            f"{name} must be a numpy array or a torch tensor, got {type(value).__name__}"
        )
    wanted = "f" if dtype.kind == "f" else "iu"
    if value.dtype.kind not in wanted:
        kind = "floating-point" if wanted == "f" else "integer"
        raise TypeError(f"{name} must have a {kind} dtype, got {value.dtype}")
    if value.ndim != 2:
        raise ValueError(f"{name} must be 2-d (rows, columns), got shape {value.shape}")
    if value.dtype == np.uint64 and value.size and int(value.max()) > np.iinfo(np.int64).max:
        # Cast to int64 it would wrap to a negative id and be reported as one.
        raise IndexError(f"{name} holds token id {int(value.max())}, out of range")
    return np.ascontiguousarray(value, dtype=dtype)


class SearchState:
    """A search in progress: feed it log-probs until :attr:`done`."""

    __slots__ = ("_dtype", "_native", "_needed")

    def __init__(self, native: Any, double: bool, needed: int = 4) -> None:
        self._native = native
        self._dtype = np.dtype(np.float64 if double else np.float32)
        self._needed = needed

    def candidates_needed(self) -> int:
        """A safe k for :meth:`step_candidates`: twice the candidates a step
        keeps per group, so bans and penalties can remove half of a row's
        top tokens before the result could differ from :meth:`step` (at most
        the vocabulary size)."""
        return self._needed

    @property
    def done(self) -> bool:
        """True once every batch item has finished."""
        return bool(self._native.done)

    @property
    def active_rows(self) -> npt.NDArray[np.int64]:
        """The rows (``item * num_beams + beam``) whose log-probs the next step needs."""
        return self._native.active_rows()  # type: ignore[no-any-return]

    @property
    def steps(self) -> int:
        """Steps taken so far (tokens generated per row)."""
        return int(self._native.steps)

    def step(self, logprobs: object) -> Step:
        """Advances one token from ``logprobs`` of shape (len(active_rows), vocab).

        They must be normalised log-probs (log_softmax of the logits); -inf is
        allowed (a banned token), NaN and +inf are refused.
        """
        array = _host_array("logprobs", logprobs, self._dtype)
        return Step(*self._native.step(array))

    def step_candidates(self, tokens: object, logprobs: object) -> Step:
        """Advances one token from each row's own top-k candidates (e.g.
        ``torch.topk(logprobs, k)`` on a GPU), both of shape (rows, k).

        The result equals :meth:`step` with the full log-probs whenever each
        row's k candidates include every token the full step could pick; k
        must be at least ``max(2, 1 + number of EOS ids) * beams per group``
        (what a step keeps), and :meth:`candidates_needed` is a safe choice.
        """
        ids = _host_array("tokens", tokens, np.dtype(np.int64))
        values = _host_array("logprobs", logprobs, self._dtype)
        return Step(*self._native.step_candidates(ids, values))

    def finish_on(self, rows: object, tokens: object) -> None:
        """Makes the next step treat candidates ``(rows[i], tokens[i])`` (rows
        index :attr:`active_rows`) as ending their beam, as an EOS token
        would: how a host applies stop strings (transformers' beam search
        checks them on every candidate). Greedy and plain beam search only."""
        self._native.finish_on(
            np.asarray(rows, dtype=np.int64).tolist(), np.asarray(tokens, dtype=np.int64).tolist()
        )

    def finalize(self) -> SearchResult:
        """The best hypotheses per item (callable before :attr:`done`: the
        running beams then count as finished at their current length)."""
        sequences, groups = self._native.finalize()
        return SearchResult(
            [[Hypothesis(*h) for h in item] for item in sequences],
            [[[Hypothesis(*h) for h in group] for group in item] for item in groups],
        )
