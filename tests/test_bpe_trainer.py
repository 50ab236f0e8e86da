"""BpeTrainer and WordCounts against references: the documented merge rule
(checked against a slow pure-Python trainer), determinism (shuffled texts,
counts merged from shards, processes and threads), and Hugging Face
tokenizers giving the same ids. Options and features are in
test_bpe_trainer_options.py, bad input in test_bpe_trainer_errors.py."""

from __future__ import annotations

import itertools
import multiprocessing
import pickle
import random
from collections import Counter

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import seqcore
from seqcore.tokenize import Tokenizer, WordCounts
from tests.bpe_trainer_helpers import EOT, merges, quiet, same_training
from tests.tokenizer_helpers import kjv

# The fixtures verses, sample and kjv_tok are shared: tests/conftest.py.


# ----------------------------------------------------- a reference trainer


def occurrences(word: list[int], a: int, b: int) -> int:
    """How many times merging (a, b) left to right, without overlaps, replaces it."""
    i = n = 0
    while i + 1 < len(word):
        if word[i] == a and word[i + 1] == b:
            n += 1
            i += 2
        else:
            i += 1
    return n


def merge_word(word: list[int], a: int, b: int, z: int) -> list[int]:
    out: list[int] = []
    i = 0
    while i < len(word):
        if i + 1 < len(word) and word[i] == a and word[i + 1] == b:
            out.append(z)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return out


def reference_train(
    counts: dict[bytes, int],
    vocab_size: int,
    min_frequency: int = 2,
    special_tokens: tuple[str, ...] = (),
    max_token_length: int | None = None,
) -> list[tuple[int, int]]:
    """The documented rule, slowly: merge the pair with the most left-to-right,
    non-overlapping occurrences (times the word's count); ties go to the
    smallest (left bytes, right bytes); pairs whose merged bytes already name a
    token or a special token, pairs longer than max_token_length and pairs
    seen fewer than min_frequency times are never merged."""
    tokens = [bytes([b]) for b in range(256)]
    words = [([*w], c) for w, c in counts.items() if w and c]
    reserved = {s.encode() for s in special_tokens}
    wanted = vocab_size - 256 - len(special_tokens)
    minimum = max(min_frequency, 1)
    out: list[tuple[int, int]] = []
    while len(out) < wanted:
        pairs: Counter[tuple[int, int]] = Counter()
        for word, count in words:
            for a, b in set(itertools.pairwise(word)):
                pairs[a, b] += occurrences(word, a, b) * count
        best = None
        for (a, b), n in pairs.items():
            merged = tokens[a] + tokens[b]
            if n < minimum or merged in reserved or merged in tokens:
                continue
            if max_token_length is not None and len(merged) > max_token_length:
                continue
            key = (-n, tokens[a], tokens[b])
            if best is None or key < best[0]:
                best = (key, (a, b))
        if best is None:
            break
        a, b = best[1]
        z = len(tokens)
        tokens.append(tokens[a] + tokens[b])
        out.append((a, b))
        words = [(merge_word(w, a, b, z), c) for w, c in words]
    return out


def test_reference_matches_the_documented_example():
    # The example of the Rust documentation: "low lower lowest" with gpt2 pieces.
    counts = {b"low": 1, b" lower": 1, b" lowest": 1}
    assert reference_train(counts, 256 + 2 + 1, 2, (EOT,)) == [
        (ord("l"), ord("o")),
        (256, ord("w")),
    ]
    tok = quiet(vocab_size=259, special_tokens=[EOT]).train(["low lower lowest"])
    assert merges(tok) == [(ord("l"), ord("o")), (256, ord("w"))]
    assert tok.special_tokens == {EOT: 258}


# A tiny alphabet makes ties, repeated pairs ("aaaa") and merges that would
# recreate existing bytes common; "é" adds two-byte characters.
tiny_words = st.dictionaries(
    st.text(alphabet="abé", min_size=1, max_size=7).map(str.encode),
    st.integers(1, 5),
    min_size=1,
    max_size=8,
)


@given(
    counts=tiny_words,
    extra=st.integers(0, 24),
    min_frequency=st.integers(0, 4),
    specials=st.sampled_from([(), ("ab",), ("aa", "ba"), ("abab",), ("éé",)]),
    max_token_length=st.one_of(st.none(), st.integers(1, 5)),
)
@example(counts={b"aaaa": 1}, extra=5, min_frequency=1, specials=(), max_token_length=None)
@example(counts={b"aaa": 2, b"ab": 2}, extra=5, min_frequency=2, specials=(), max_token_length=2)
@example(counts={b"abab": 3}, extra=5, min_frequency=2, specials=("abab",), max_token_length=None)
def test_merges_equal_the_reference_trainer(
    counts, extra, min_frequency, specials, max_token_length
):
    vocab_size = 256 + extra + len(specials)
    wc = WordCounts()
    for word, count in counts.items():
        wc.add_word(word, count)
    trainer = quiet(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(specials),
        max_token_length=max_token_length,
    )
    tok = trainer.train_from_counts(wc)
    want = reference_train(counts, vocab_size, min_frequency, specials, max_token_length)
    assert merges(tok) == want
    n_learned = len(want)
    assert tok.vocab_size == 256 + n_learned + len(specials) <= vocab_size
    assert tok.special_tokens == {s: 256 + n_learned + i for i, s in enumerate(specials)}
    # Each learned token is its merge's two halves, and all bytes are distinct.
    tokens = [tok.id_to_bytes(i) for i in range(256 + n_learned)]
    for k, (a, b) in enumerate(want):
        assert tokens[256 + k] == tokens[a] + tokens[b]
    assert len(set(tokens)) == len(tokens)
    assert not {s.encode() for s in specials} & set(tokens)


@given(counts=tiny_words, extra=st.integers(0, 30), seed=st.integers(0, 2**32 - 1))
def test_insertion_order_and_splitting_of_counts_do_not_matter(counts, extra, seed):
    items = list(counts.items())
    whole = WordCounts()
    for word, count in items:
        whole.add_word(word, count)
    random.Random(seed).shuffle(items)
    left, right = WordCounts(), WordCounts()
    for word, count in items:
        # Split each count across two shards, some of it added one at a time.
        k = count // 2
        if k:
            left.add_word(word, k)
        for _ in range(count - k):
            right.add_word(word, 1)
    total = left + right
    assert total.to_bytes() == whole.to_bytes()
    assert total.total == whole.total == sum(counts.values())
    assert len(total) == len(counts)
    trainer = quiet(vocab_size=256 + extra, min_frequency=1)
    same_training(trainer.train_from_counts(total), trainer.train_from_counts(whole))


def test_min_frequency_against_the_reference():
    texts = kjv()[:40]
    counts = quiet(vocab_size=256).count(texts)
    words = dict(counts.most_common(len(counts)))
    for min_frequency in (3, 7):
        trainer = quiet(vocab_size=2000, min_frequency=min_frequency)
        assert merges(trainer.train_from_counts(counts)) == reference_train(
            words, 2000, min_frequency
        )


# ------------------------------------------------------------ determinism


def test_same_merges_for_shuffled_texts(sample):
    trainer = quiet(vocab_size=900, special_tokens=[EOT])
    want = trainer.train(sample)
    shuffled = list(sample)
    random.Random(7).shuffle(shuffled)
    same_training(trainer.train(shuffled), want)
    # A generator (streamed in batches) gives the same as a list.
    same_training(trainer.train(v for v in reversed(sample)), want)


def test_same_merges_for_counts_merged_from_shards(sample):
    trainer = quiet(vocab_size=900)
    want = trainer.train(sample)
    shards = [sample[i::3] for i in range(3)]
    parts = [trainer.count(shard) for shard in shards]
    # `+`, merge() in place, and through pickle (as from other processes).
    summed = parts[0] + parts[1] + parts[2]
    same_training(trainer.train_from_counts(summed), want)
    in_place = WordCounts()
    for part in reversed(parts):
        in_place.merge(part)
    assert in_place.to_bytes() == summed.to_bytes()
    pickled = WordCounts()
    for part in parts:
        copy = pickle.loads(pickle.dumps(part))
        assert isinstance(copy, WordCounts)
        assert copy.pattern == part.pattern
        assert copy.to_bytes() == part.to_bytes()
        assert copy.total == part.total and len(copy) == len(part)
        pickled.merge(copy)
    same_training(trainer.train_from_counts(pickled), want)
    # Counting into existing counts is the same as merging.
    into = trainer.count(shards[0])
    trainer.count(shards[1], counts=into)
    trainer.count(shards[2], counts=into)
    assert into.to_bytes() == summed.to_bytes()


def test_same_merges_for_counts_from_a_process_pool(sample):
    trainer = quiet(vocab_size=900, pattern="cl100k")
    want = trainer.train(sample)
    shards = [sample[i::4] for i in range(4)]
    # spawn: the workers start clean whatever the parent's threads are doing.
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        parts = pool.map(trainer.count, shards)
    assert all(isinstance(p, WordCounts) and p.pattern == "cl100k" for p in parts)
    total = WordCounts("cl100k")
    for part in parts:
        total.merge(part)
    assert total.to_bytes() == trainer.count(sample).to_bytes()
    same_training(trainer.train_from_counts(total), want)


def test_same_merges_for_one_and_two_threads(verses):
    # The whole KJV: enough distinct words for the parallel paths of counting
    # and of the merge loop.
    trainer = quiet(vocab_size=3000, special_tokens=[EOT])
    before = seqcore.get_num_threads()
    try:
        seqcore.set_num_threads(1)
        one_counts = trainer.count(verses)
        one = trainer.train_from_counts(one_counts)
        seqcore.set_num_threads(2)
        two_counts = trainer.count(verses)
        two = trainer.train_from_counts(two_counts)
        two_from_one = trainer.train_from_counts(one_counts)
    finally:
        seqcore.set_num_threads(before)
    assert one_counts.to_bytes() == two_counts.to_bytes()
    same_training(one, two)
    same_training(one, two_from_one)


# --------------------------------------------------- Hugging Face tokenizers


@pytest.fixture(scope="module")
def hf_tok(kjv_tok):
    tokenizers = pytest.importorskip("tokenizers")
    return tokenizers.Tokenizer.from_str(kjv_tok.to_json())


def test_hugging_face_gives_the_same_ids_on_kjv(kjv_tok, hf_tok, verses):
    texts = verses[::10]
    ours = kjv_tok.encode_batch(texts)
    theirs = [e.ids for e in hf_tok.encode_batch(texts)]
    assert ours == theirs
    joined = "\n".join(verses[:500]) + f"{EOT}  \n\n tail"
    assert kjv_tok.encode(joined, allowed_special="all") == hf_tok.encode(joined).ids
    assert hf_tok.decode(ours[0]) == texts[0]


@given(text=st.text())
@example(text=f"x{EOT}y  \n\n z's 123 4567 \t\r\n")
def test_hugging_face_gives_the_same_ids_on_any_text(kjv_tok, hf_tok, text):
    ids = kjv_tok.encode(text, allowed_special="all")
    assert ids == hf_tok.encode(text).ids


def test_hugging_face_loads_other_patterns_to_the_same_ids(sample):
    tokenizers = pytest.importorskip("tokenizers")
    text = "\n".join(sample[:200]) + " 12345 don't  HELLO\t\tworld"
    for pattern in ("cl100k", "o200k", "llama3"):
        tok = quiet(vocab_size=600, pattern=pattern).train(sample)
        hf = tokenizers.Tokenizer.from_str(tok.to_json())
        assert tok.encode(text) == hf.encode(text).ids, pattern
        # and seqcore loads its own JSON back to the same tokenizer
        assert Tokenizer.from_json(tok.to_json()).encode(text) == tok.encode(text)
