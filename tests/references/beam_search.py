"""Plain numpy reference of the greedy / beam / diverse beam search step machine.

The host owns the model: it feeds `step()` the log-probs of the active rows,
the machine answers with the next token and parent of each row, and
`finalize()` returns the hypotheses. The semantics are Hugging Face
transformers' own: greedy and beam search as in transformers 5.18.0
(`GenerationMixin._sample` / `_beam_search`), diverse (group) beam search as in
4.56.2 (`_group_beam_search` with `BeamSearchScorer` / `BeamHypotheses` and
`HammingDiversityLogitsProcessor`; later versions dropped it).

What HF does, read from its source (float32 means numpy/torch float32 values;
g = tokens generated before the step, HF's `cur_len - prompt_len`; N =
num_beams; E = number of EOS ids; lp = length_penalty):

Shared by every mode
  * Rows score with float32 `log_softmax(logits)`. Greedy takes the argmax of
    the processed *logits*; argmax over log-probs is the same token except where
    float32 rounding of `x - logsumexp` merges two distinct logits (the first
    index then wins here).
  * Processors only write -inf, so their order does not matter:
    min_new_tokens bans the EOS ids while g < min_new_tokens;
    no_repeat_ngram_size n bans t when (last n-1 tokens of the row, t) already
    occurs in the row (n = 1 bans every token of the row); bad_words bans the
    last token of a bad sequence when the row ends with the rest of it
    (single-token bad words equal to an EOS id are dropped).
  * HF's rows are the *left-padded* prompts plus generated tokens, so n-gram
    and bad-word matches see the padding. Pass the padded rows as `prompts`
    to reproduce HF exactly; prompts serve no other purpose here.

Greedy (num_beams == 1; 5.18 `_sample`)
  Each unfinished row takes argmax (first maximal index); a row ends on an EOS
  id or when g + 1 == max_new_tokens. HF reports no sequence score: the score
  here is the float32 running sum of the chosen log-probs.

Beam search (num_groups == 1; 5.18 `_beam_search`)
  1. Running scores start at [0, -1e9, ..., -1e9] (float32) so only beam 0
     expands at the first step; -1e9 + logprob rounds back to -1e9 in float32.
  2. acc = processed_logprob + running_score (float32); K = max(2, 1 + E) * N
     best of the item's N * vocab (beam, token) pairs are kept, ranked.
  3. A candidate "hits" if its token is an EOS id or g + 1 == max_new_tokens.
  4. Next running beams: the N best of acc + hit * -1e9 (float32), ranked.
  5. Candidates of rank < N that hit are finished with score
     acc / float32((g + 1) ** lp) (Python pow in float64, rounded to float32,
     float32 division: torch divides a float32 tensor by a Python float this
     way on CPU) and merged into the item's N finished slots, best N kept.
  6. The item stops after the step if all N slots are finished and either
     early_stopping is True or not best_running / float32(L ** lp) > worst
     finished score, where best_running is the best score of step 4 and
     L = max_new_tokens if early_stopping == "never" and lp > 0 else g + 1.
     A stopped item never changes again in HF (its later candidates get -1e9),
     so its rows leave `active_rows` here. All items stop at max_new_tokens,
     where the N best candidates finish whatever their token.
  7. Result: finished slots by descending score; beam_indices[t] =
     item * N + parent slot at step t (HF's global rows); EOS tokens kept.

Diverse beam search (num_groups G > 1, group size S = N / G; 4.56.2)
  1. Scores start at 0 for the first beam of each group, -1e9 elsewhere.
     Groups of an item step in order 0..G-1; each is its own beam search over
     its S rows with K = max(2, 1 + E) * S candidates.
  2. Group g > 0 subtracts float32(diversity * count[t]) (float32 product)
     from every row's log-probs, count = how often t was chosen this step by
     groups 0..g-1 of the item. A group that is done counts as S copies of
     pad_token_id (HF feeds pad tokens for done groups): a quirk, kept.
  3. Candidates are walked in rank order: an EOS candidate of rank < S
     becomes a hypothesis, one of rank >= S is dropped; other tokens fill the
     S running beams in rank order (the walk stops when they are full).
  4. Hypothesis score = float(acc) / (g + 1) ** lp in float64 (Python floats);
     the group keeps its S best (`BeamHypotheses.add`: needs score > worst to
     enter when full; the worst, earliest on ties, is dropped).
  5. After the step the group is done if it holds S hypotheses and either
     early_stopping is True or worst >= best / L ** lp (float64), where best
     is the best *candidate* score of the step (EOS ones included) and L as
     in beam search step 6 (max_new_tokens for "never" with lp > 0).
  6. At max_new_tokens each group not done adds its S running beams with
     length max_new_tokens (after step 5 of that step). The item's result is
     the union of its groups' hypotheses by descending score (a stable sort,
     then pops from the end: on exact ties the later group wins), scores
     reported rounded to float32.

Differences of 4.56 group search with one group from 5.18 beam search
(HF routes G == 1 to beam search, so these are the reason for two code paths):
  * float64 hypothesis scores and stop test versus float32 division by
    float32(len ** lp); with lp = -0.5 or 0.7 the two can round differently.
  * The stop test uses the best candidate (possibly an EOS just finished)
    rather than the best running beam, so 4.56 stops later at times.
  * At max_new_tokens 4.56 first finishes the EOS candidates, may declare
    the group done (early_stopping=True with S hypotheses), and then skips the
    running beams; 5.18 finishes the N best candidates whatever their token.
  * 4.56 writes eos_token_ids[0] as the last token of an EOS hypothesis,
    whichever EOS id was generated; here `tokens` keep the generated one.
  * 4.56's group-search `beam_indices` are wrong (group-local indices, group
    0's history used for every group, finalize indexing batch-major into a
    group-major tuple); the ones here are the true global parent rows.
  * 4.56 refuses diversity 0 with G > 1 and diversity > 0 with G == 1; so
    does `SearchSpec`.

Ties: HF ranks with torch.topk, whose order among equal values is not
specified (on CPU, topk(zeros(10), 3) gives indices [8, 6, 7]); here ranking
is by score descending, then flattened (beam * vocab + token) index
ascending, as in a stable sort. Greedy's argmax takes the first maximum in
both. Equal scores
arise among -inf tokens and the -1e9 placeholder beams, both only reached
when fewer than K finite candidates exist (tiny vocab, heavy bans), and among
finished scores by coincidence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]

# HF's placeholder score for beams that must not win.
_BIG = np.float32(-1.0e9)


@dataclass(frozen=True, kw_only=True)
class SearchSpec:
    num_beams: int
    num_groups: int = 1
    diversity_strength: float = 0.0
    length_penalty: float = 1.0
    early_stopping: bool | str = False
    num_return_sequences: int = 1
    eos_token_ids: tuple[int, ...] = ()
    pad_token_id: int | None = None
    min_new_tokens: int = 0
    max_new_tokens: int
    no_repeat_ngram_size: int = 0
    bad_words_ids: tuple[tuple[int, ...], ...] = ()
    vocab_size: int

    def __post_init__(self) -> None:
        # Lists are welcome; the matching below compares tuples.
        object.__setattr__(self, "eos_token_ids", tuple(self.eos_token_ids))
        object.__setattr__(self, "bad_words_ids", tuple(tuple(w) for w in self.bad_words_ids))
        n, g = self.num_beams, self.num_groups
        if n < 1 or g < 1 or n % g:
            raise ValueError("num_beams must be a positive multiple of num_groups")
        # Both refusals are HF 4.56's: groups without a penalty would be identical
        # copies, and the Hamming processor refuses to run with one group.
        if g > 1 and not self.diversity_strength > 0.0:
            raise ValueError("num_groups > 1 needs diversity_strength > 0")
        if g == 1 and self.diversity_strength != 0.0:
            raise ValueError("diversity_strength needs num_groups > 1")
        stopping = self.early_stopping
        if not (stopping is True or stopping is False or stopping == "never"):
            raise ValueError("early_stopping must be True, False or 'never'")
        if not 1 <= self.num_return_sequences <= n:
            raise ValueError("num_return_sequences must be in 1..num_beams")
        if self.max_new_tokens < 1 or self.min_new_tokens < 0 or self.no_repeat_ngram_size < 0:
            raise ValueError("max_new_tokens >= 1, min_new_tokens >= 0, no_repeat_ngram_size >= 0")
        if not np.isfinite(self.length_penalty):
            raise ValueError("length_penalty must be finite")
        ids = [*self.eos_token_ids, *(t for w in self.bad_words_ids for t in w)]
        if self.pad_token_id is not None:
            ids.append(self.pad_token_id)
        if any(not 0 <= t < self.vocab_size for t in ids):
            raise ValueError("token ids must lie in 0..vocab_size-1")
        if any(len(w) == 0 for w in self.bad_words_ids):
            raise ValueError("bad words must not be empty")
        if n > 1 and self.keep > self.group_size * self.vocab_size:
            # torch.topk would refuse to rank more candidates than there are.
            raise ValueError("vocab too small for the candidates beam search keeps")

    @property
    def group_size(self) -> int:
        return self.num_beams // self.num_groups

    @property
    def keep(self) -> int:
        """Candidates kept per item (per group): HF's max(2, 1 + E) * beams."""
        return max(2, 1 + len(self.eos_token_ids)) * self.group_size


@dataclass(frozen=True)
class Hypothesis:
    tokens: tuple[int, ...]  # generated tokens only, EOS kept
    score: float  # HF's sequences_scores value (float32)
    token_scores: tuple[float, ...]  # processed log-prob of each token
    beam_indices: tuple[int, ...]  # global parent row at each step
    group: int


@dataclass(frozen=True)
class _Path:
    tokens: tuple[int, ...] = ()
    token_scores: tuple[float, ...] = ()
    rows: tuple[int, ...] = ()

    def extend(self, token: int, score: np.float32, row: int) -> _Path:
        return _Path((*self.tokens, token), (*self.token_scores, float(score)), (*self.rows, row))


@dataclass
class _Unit:
    """Rows that search together: one item (greedy, beam) or one group."""

    item: int
    group: int
    base: int  # first global row
    running: list[tuple[_Path, np.float32]]
    finished: list[tuple[np.float32, _Path]] = field(default_factory=list)  # beam search
    hyps: _GroupHypotheses | None = None  # group search
    done: bool = False


class _GroupHypotheses:
    """HF 4.56 `BeamHypotheses`: the S best finished hypotheses, float64 scores."""

    def __init__(self, spec: SearchSpec) -> None:
        self.spec = spec
        self.beams: list[tuple[float, _Path]] = []
        self.worst = 1e9

    def add(self, path: _Path, sum_logprobs: float, generated_len: int) -> None:
        score = sum_logprobs / (generated_len**self.spec.length_penalty)
        if len(self.beams) < self.spec.group_size or score > self.worst:
            self.beams.append((score, path))
            if len(self.beams) > self.spec.group_size:
                ranked = sorted((s, i) for i, (s, _) in enumerate(self.beams))
                del self.beams[ranked[0][1]]
                self.worst = ranked[1][0]
            else:
                self.worst = min(score, self.worst)

    def is_done(self, best_sum_logprobs: float, generated_len: int) -> bool:
        spec = self.spec
        if len(self.beams) < spec.group_size:
            return False
        if spec.early_stopping is True:
            return True
        length = generated_len
        if spec.early_stopping == "never" and spec.length_penalty > 0.0:
            length = spec.max_new_tokens
        return bool(self.worst >= best_sum_logprobs / length**spec.length_penalty)


def _top(values: Array, k: int) -> Array:
    """Indices of the k largest values: descending, lower index first on ties."""
    return np.argsort(-values, kind="stable")[:k]


class ReferenceSearch:
    """One search over a batch of prompts.

    Global row `item * num_beams + beam` is HF's row; for diverse search beam =
    group * group_size + j. `active_rows` lists the rows the host must score
    next, ascending; the rows of an item (a group, in diverse search) leave
    once it is finished. `step(logprobs)` takes float32 log-probs of shape
    (len(active_rows), vocab_size) and returns, for each row of the new
    `active_rows`, the token it just took and its parent as an index into the
    previous `active_rows` (the host reorders its KV cache by these). When
    `done`, `finalize()` gives each item's num_return_sequences hypotheses,
    best first.
    """

    def __init__(self, spec: SearchSpec, prompts: list[list[int]]) -> None:
        if not prompts:
            raise ValueError("at least one prompt")
        self.spec = spec
        self.prompts = [tuple(p) for p in prompts]
        self.generated = 0  # steps taken; every live row advances together
        n, s = spec.num_beams, spec.group_size
        self._units: list[_Unit] = []
        for item in range(len(prompts)):
            for g in range(spec.num_groups):
                # Only the first beam of each unit starts at 0, as in HF.
                running = [(_Path(), np.float32(0.0 if j == 0 else _BIG)) for j in range(s)]
                unit = _Unit(item, g, item * n + g * s, running)
                if spec.num_groups > 1:
                    unit.hyps = _GroupHypotheses(spec)
                self._units.append(unit)

    @property
    def done(self) -> bool:
        return all(u.done for u in self._units)

    @property
    def active_rows(self) -> list[int]:
        width = self.spec.group_size
        return [u.base + j for u in self._units if not u.done for j in range(width)]

    def step(self, logprobs: Array) -> tuple[list[int], list[int]]:
        spec = self.spec
        if self.done:
            raise RuntimeError("the search is finished")
        before = self.active_rows
        lp = np.array(logprobs, dtype=np.float32)
        if lp.shape != (len(before), spec.vocab_size):
            raise ValueError(f"logprobs must be {(len(before), spec.vocab_size)}, got {lp.shape}")
        position = {row: i for i, row in enumerate(before)}
        width = spec.group_size
        # Tokens chosen this step by each item's groups so far (Hamming penalty).
        chosen: dict[int, list[int]] = {}
        for unit in self._units:
            picked = chosen.setdefault(unit.item, [])
            if unit.done:
                if unit.hyps is not None:
                    # HF feeds pad tokens for done groups; generate() defaults the pad
                    # to the first EOS id, and a group is only done early through EOS.
                    pad = spec.pad_token_id
                    picked.extend([spec.eos_token_ids[0] if pad is None else pad] * width)
                continue
            start = position[unit.base]
            rows = lp[start : start + width]
            for j, (path, _) in enumerate(unit.running):
                self._ban(rows[j], self.prompts[unit.item] + path.tokens)
            if spec.num_beams == 1:
                self._greedy_step(unit, rows[0])
            elif spec.num_groups == 1:
                self._beam_step(unit, rows)
            else:
                if unit.group > 0:
                    self._diversity(rows, picked)
                self._group_step(unit, rows)
                picked.extend(path.tokens[-1] for path, _ in unit.running)
        self.generated += 1
        tokens, parents = [], []
        for unit in self._units:
            if unit.done:
                continue
            for path, _ in unit.running:
                tokens.append(path.tokens[-1])
                parents.append(position[path.rows[-1]])
        return tokens, parents

    def finalize(self) -> list[list[Hypothesis]]:
        if not self.done:
            raise RuntimeError("finalize() before the search is finished")
        spec = self.spec
        results: list[list[Hypothesis]] = [[] for _ in self.prompts]
        if spec.num_groups == 1:
            for unit in self._units:
                kept = unit.finished[: spec.num_return_sequences]
                results[unit.item] = [_hypothesis(p, float(s), 0) for s, p in kept]
            return results
        for item in range(len(self.prompts)):
            # HF: sorted() over the groups' lists in order, then pop() from the end.
            candidates = [
                (score, path, u.group)
                for u in self._units
                if u.item == item and u.hyps is not None
                for score, path in u.hyps.beams
            ]
            ranked = sorted(candidates, key=lambda c: c[0])
            for _ in range(spec.num_return_sequences):
                score, path, group = ranked.pop()
                results[item].append(_hypothesis(path, float(np.float32(score)), group))
        return results

    # -- processors ---------------------------------------------------------

    def _ban(self, row: Array, context: tuple[int, ...]) -> None:
        """Writes -inf where HF's min-new-tokens, n-gram and bad-words processors do."""
        spec = self.spec
        if self.generated < spec.min_new_tokens:
            row[list(spec.eos_token_ids)] = -np.inf
        n = spec.no_repeat_ngram_size
        if n and len(context) >= n:
            prefix = context[len(context) - n + 1 :]
            for start in range(len(context) - n + 1):
                if context[start : start + n - 1] == prefix:
                    row[context[start + n - 1]] = -np.inf
        for word in spec.bad_words_ids:
            if len(word) == 1 and word[0] in spec.eos_token_ids:
                continue  # HF drops single-token bad words that are EOS ids
            head = word[:-1]
            if len(head) <= len(context) and context[len(context) - len(head) :] == head:
                row[word[-1]] = -np.inf

    def _diversity(self, rows: Array, picked: list[int]) -> None:
        counts = np.bincount(np.array(picked, dtype=np.int64), minlength=self.spec.vocab_size)
        penalty = np.float32(self.spec.diversity_strength) * counts.astype(np.float32)
        rows -= penalty

    # -- one unit, one step -------------------------------------------------

    def _greedy_step(self, unit: _Unit, row: Array) -> None:
        token = int(np.argmax(row))
        path, score = unit.running[0]
        path = path.extend(token, row[token], unit.base)
        score = np.float32(score + row[token])
        unit.running = [(path, score)]
        if token in self.spec.eos_token_ids or self.generated + 1 == self.spec.max_new_tokens:
            unit.finished = [(score, path)]
            unit.done = True

    def _beam_step(self, unit: _Unit, rows: Array) -> None:
        spec = self.spec
        n, vocab = spec.num_beams, spec.vocab_size
        scores = np.array([s for _, s in unit.running], dtype=np.float32)
        acc = (rows + scores[:, None]).reshape(-1)
        top = _top(acc, spec.keep)
        last = self.generated + 1 == spec.max_new_tokens
        hits = np.array([last or int(i) % vocab in spec.eos_token_ids for i in top])
        masked = acc[top] + hits.astype(np.float32) * _BIG

        def grow(rank: int) -> _Path:
            beam, token = divmod(int(top[rank]), vocab)
            return unit.running[beam][0].extend(token, rows[beam, token], unit.base + beam)

        running = [(grow(int(r)), masked[r]) for r in _top(masked, n)]
        denom = np.float32((self.generated + 1) ** spec.length_penalty)
        new = [(np.float32(acc[top[r]] / denom), grow(r)) for r in range(n) if hits[r]]
        unit.running = running
        merged = unit.finished + new
        order = _top(np.array([s for s, _ in merged], dtype=np.float32), n)
        unit.finished = [merged[i] for i in order]
        if last:
            unit.done = True
        elif len(unit.finished) == n:
            if spec.early_stopping is True:
                unit.done = True
            else:
                length = self.generated + 1
                if spec.early_stopping == "never" and spec.length_penalty > 0.0:
                    length = spec.max_new_tokens
                best = unit.running[0][1] / np.float32(length**spec.length_penalty)
                unit.done = not best > unit.finished[-1][0]

    def _group_step(self, unit: _Unit, rows: Array) -> None:
        spec = self.spec
        size, vocab = spec.group_size, spec.vocab_size
        hyps = unit.hyps
        assert hyps is not None
        scores = np.array([s for _, s in unit.running], dtype=np.float32)
        acc = (rows + scores[:, None]).reshape(-1)
        top = _top(acc, spec.keep)
        running: list[tuple[_Path, np.float32]] = []
        for rank, index in enumerate(top):
            beam, token = divmod(int(index), vocab)
            path = unit.running[beam][0].extend(token, rows[beam, token], unit.base + beam)
            if token in spec.eos_token_ids:
                if rank < size:
                    hyps.add(path, float(acc[index]), self.generated + 1)
            else:
                running.append((path, acc[index]))
            if len(running) == size:
                break
        if len(running) < size:
            raise ValueError("fewer non-EOS candidates than beams (HF raises too)")
        unit.running = running
        unit.done = hyps.is_done(float(acc[top[0]]), self.generated + 1)
        if self.generated + 1 == spec.max_new_tokens:
            if not unit.done:
                for path, score in running:
                    hyps.add(path, float(score), spec.max_new_tokens)
            unit.done = True


def _hypothesis(path: _Path, score: float, group: int) -> Hypothesis:
    return Hypothesis(path.tokens, score, path.token_scores, path.rows, group)


def run_search(
    spec: SearchSpec,
    prompts: list[list[int]],
    logprobs_fn: Callable[[ReferenceSearch], Array],
) -> list[list[Hypothesis]]:
    """Drives a search to the end: `logprobs_fn(search)` returns the log-probs
    of `search.active_rows`."""
    search = ReferenceSearch(spec, prompts)
    while not search.done:
        search.step(logprobs_fn(search))
    return search.finalize()
