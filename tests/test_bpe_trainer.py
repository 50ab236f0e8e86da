"""BpeTrainer and WordCounts: determinism, the documented merge rule (checked
against a slow pure-Python trainer), limits, special tokens, file input,
Hugging Face compatibility of the result, and bad input."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import pickle
import random
from collections import Counter
from typing import ClassVar

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import seqcore
from seqcore.errors import DisallowedSpecialTokenError, TokenizerFormatError
from seqcore.tokenize import BpeTrainer, Tokenizer, WordCounts
from seqcore.tokenize import _trainer as trainer_module
from tests.tokenizer_helpers import kjv

EOT = "<|endoftext|>"


@pytest.fixture(scope="module")
def verses() -> list[str]:
    return kjv()


@pytest.fixture(scope="module")
def sample(verses: list[str]) -> list[str]:
    """Every 8th verse: ~3,900 verses, 0.5 MB."""
    return verses[::8]


@pytest.fixture(scope="module")
def kjv_tok(verses: list[str]) -> Tokenizer:
    return BpeTrainer(vocab_size=1000, special_tokens=[EOT], show_progress=False).train(verses)


def quiet(**kwargs: object) -> BpeTrainer:
    return BpeTrainer(show_progress=False, **kwargs)  # type: ignore[arg-type]


def n_specials(tok: Tokenizer) -> int:
    return len(tok.special_tokens)


def learned(tok: Tokenizer) -> list[bytes]:
    """The bytes of the learned tokens, in id order."""
    return [tok.id_to_bytes(i) for i in range(256, tok.vocab_size - n_specials(tok))]


def merges(tok: Tokenizer) -> list[tuple[int, int]]:
    """The merges as (left id, right id), in rank order."""
    model = json.loads(tok.to_json())["model"]
    vocab = model["vocab"]
    return [(vocab[left], vocab[right]) for left, right in model["merges"]]


def same_training(a: Tokenizer, b: Tokenizer) -> None:
    assert merges(a) == merges(b)
    assert learned(a) == learned(b)
    assert a.to_json() == b.to_json()


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
    specials=st.sampled_from([(), ("ab",), ("aa", "ba"), ("abab",), ("é",)]),
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


# ------------------------------------------------------- vocabulary limits


def test_vocab_size_is_reached_exactly_when_the_corpus_allows(kjv_tok, verses):
    assert kjv_tok.vocab_size == 1000
    assert kjv_tok.special_tokens == {EOT: 999}
    assert len(learned(kjv_tok)) == 1000 - 256 - 1
    tok = quiet(vocab_size=700).train(verses[:2000])
    assert tok.vocab_size == 700


def test_training_stops_early_when_no_pair_repeats():
    tok = quiet(vocab_size=10_000, special_tokens=[EOT]).train(["abab abab"] * 3)
    assert learned(tok) == [b"ab", b"abab", b" abab"]
    assert tok.vocab_size == 260
    assert tok.special_tokens == {EOT: 259}


def test_only_the_bytes_when_vocab_size_is_256():
    tok = quiet(vocab_size=256).train(["hello hello hello"])
    assert tok.vocab_size == 256
    assert tok.encode("hello") == list(b"hello")


@given(
    texts=st.lists(st.text(alphabet="ab c\n.", max_size=30), max_size=8),
    extra=st.integers(0, 40),
    min_frequency=st.integers(0, 3),
)
def test_vocab_size_is_never_exceeded(texts, extra, min_frequency):
    tok = quiet(vocab_size=256 + extra, min_frequency=min_frequency).train(texts)
    assert tok.vocab_size <= 256 + extra
    for text in texts:
        assert tok.decode(tok.encode(text)) == text


def test_every_byte_is_a_token(kjv_tok):
    for b in range(256):
        assert kjv_tok.id_to_bytes(b) == bytes([b])
    # Even bytes the corpus (ASCII) never had.
    text = "\x00\x7f é ü 中文 🙂 \U0010ffff"
    assert kjv_tok.decode(kjv_tok.encode(text)) == text


@given(text=st.text())
@example(text="\ud7ff\ue000\ufffe")
@example(text=f"a{EOT}b")
def test_any_text_round_trips(kjv_tok, text):
    ids = kjv_tok.encode_ordinary(text)
    assert kjv_tok.decode(ids, errors="strict") == text
    assert kjv_tok.decode_bytes(ids) == text.encode("utf-8", "surrogatepass")


@given(data=st.binary(max_size=64))
@example(data=b"ok \xff\xfe \xed\xa0\x80 \xf0\x9f\x99\x82")
def test_any_bytes_round_trip_through_surrogateescape(kjv_tok, data):
    text = data.decode("utf-8", "surrogateescape")
    ids = kjv_tok.encode_ordinary(text)
    # Valid UTF-8 comes back exactly; each undecodable byte (a lone surrogate
    # in the str) is encoded as U+FFFD, as tiktoken does.
    want = "".join("\ufffd" if "\udc80" <= c <= "\udcff" else c for c in text)
    assert kjv_tok.decode_bytes(ids) == want.encode()
    if want == text:
        assert kjv_tok.decode_bytes(ids) == data


# -------------------------------------------------------- special tokens


def test_special_tokens_come_last_and_match_only_when_allowed(sample):
    specials = [EOT, "<|pad|>", "hello"]
    tok = quiet(vocab_size=600, special_tokens=specials).train(sample)
    assert tok.vocab_size == 600
    assert tok.special_tokens == {s: 597 + i for i, s in enumerate(specials)}
    for s, i in tok.special_tokens.items():
        assert tok.id_to_bytes(i) == s.encode()
        assert tok.token_to_id(s) == i
        assert i not in tok.encode_ordinary(f"x {s} y")
    text = f"And God said{EOT}Let there be<|pad|>light"
    with pytest.raises(DisallowedSpecialTokenError):
        tok.encode(text)
    ids = tok.encode(text, allowed_special="all")
    assert ids.count(597) == 1 and ids.count(598) == 1
    with pytest.raises(DisallowedSpecialTokenError):
        tok.encode(text, allowed_special={EOT})  # <|pad|> is still disallowed
    ids = tok.encode(text, allowed_special={EOT}, disallowed_special=())
    assert ids.count(597) == 1 and 598 not in ids
    plain = tok.encode(text, disallowed_special=())
    assert not set(plain) & {597, 598, 599}
    assert plain == tok.encode_ordinary(text)
    for ids in (plain, tok.encode(text, allowed_special="all")):
        assert tok.decode(ids) == text
    assert tok.decode(tok.encode(text, allowed_special="all"), skip_special_tokens=True) == (
        "And God saidLet there belight"
    )


def test_no_learned_token_has_the_bytes_of_a_special_token():
    tok = quiet(vocab_size=400, special_tokens=["hello"]).train(["hello"] * 50)
    assert b"hello" not in learned(tok)
    # Ties go to the smallest left bytes: "el", "ell", "ello"; ("h", "ello") is reserved.
    assert learned(tok) == [b"el", b"ell", b"ello"]
    assert tok.encode("hello", allowed_special="all") == [tok.special_tokens["hello"]]
    assert tok.decode(tok.encode_ordinary("hello")) == "hello"
    assert tok.special_tokens["hello"] not in tok.encode_ordinary("hello")


# ------------------------------------------------ frequency and length limits


def weighted_occurrences(counts: WordCounts, token: bytes) -> int:
    return sum(word.count(token) * n for word, n in counts.most_common(len(counts)))


@pytest.mark.parametrize("min_frequency", [0, 1, 2, 5, 40])
def test_min_frequency(min_frequency):
    texts = kjv()[:300]
    trainer = quiet(vocab_size=50_000, min_frequency=min_frequency)
    counts = trainer.count(texts)
    tok = trainer.train_from_counts(counts)
    assert 256 < tok.vocab_size < 50_000  # stopped by min_frequency, not vocab_size
    for token in learned(tok):
        # The merge that made it replaced this many non-overlapping occurrences.
        assert weighted_occurrences(counts, token) >= min_frequency, token
    # The same counts give the same merges until the best pair is too rare.
    everything = merges(quiet(vocab_size=50_000, min_frequency=1).train_from_counts(counts))
    assert merges(tok) == everything[: len(merges(tok))]
    if min_frequency <= 1:
        assert merges(tok) == everything


def test_min_frequency_against_the_reference():
    texts = kjv()[:40]
    counts = quiet(vocab_size=256).count(texts)
    words = dict(counts.most_common(len(counts)))
    for min_frequency in (3, 7):
        trainer = quiet(vocab_size=2000, min_frequency=min_frequency)
        assert merges(trainer.train_from_counts(counts)) == reference_train(
            words, 2000, min_frequency
        )


@pytest.mark.parametrize("max_token_length", [1, 2, 3, 6])
def test_max_token_length(sample, max_token_length):
    tok = quiet(vocab_size=800, max_token_length=max_token_length).train(sample)
    assert all(len(t) <= max_token_length for t in learned(tok))
    if max_token_length == 1:
        assert tok.vocab_size == 256
    elif max_token_length == 2:
        # Fewer distinct two-byte pieces than that occur; all of those are learned.
        assert 256 < tok.vocab_size < 800
        pairs = {v.encode()[i : i + 2] for v in sample for i in range(len(v) - 1)}
        assert set(learned(tok)) <= pairs
    else:
        assert tok.vocab_size == 800
        assert max(map(len, learned(tok))) == max_token_length
    text = sample[1]
    assert tok.decode(tok.encode(text)) == text


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


# -------------------------------------------------------------- file input


def test_train_from_files_and_count_files(tmp_path, sample):
    lines = [v + "\n" for v in sample]
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("".join(lines[:1000]), encoding="utf-8")
    second.write_text("".join(lines[1000:]), encoding="utf-8")
    trainer = quiet(vocab_size=800, special_tokens=[EOT])
    want = trainer.train(lines)
    same_training(trainer.train_from_files([first, second]), want)
    same_training(trainer.train_from_files([str(first), str(second)]), want)
    counts = trainer.count_files([first, second])
    assert counts.to_bytes() == trainer.count(lines).to_bytes()
    # One path on its own, str or PathLike.
    assert trainer.count_files(first).to_bytes() == trainer.count(lines[:1000]).to_bytes()
    assert trainer.count_files(str(second)).to_bytes() == trainer.count(lines[1000:]).to_bytes()


def test_files_keep_their_line_endings(tmp_path):
    path = tmp_path / "crlf.txt"
    path.write_bytes(b"one two\r\nthree\rfour\n\xff\xfe bad\n")
    trainer = quiet(vocab_size=300, min_frequency=1)
    lines = ["one two\r\n", "three\rfour\n", "\ufffd\ufffd bad\n"]
    assert trainer.count_files([path]).to_bytes() == trainer.count(lines).to_bytes()


def test_missing_file_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        quiet(vocab_size=300).train_from_files([tmp_path / "missing.txt"])


# -------------------------------------------------------------- progress


def test_progress_is_shown_on_stderr(capsys, sample):
    quiet(vocab_size=400).train(sample[:10])
    assert capsys.readouterr().err == ""
    BpeTrainer(vocab_size=400, show_progress=True).train(sample[:200])
    err = capsys.readouterr().err
    assert "counting: " in err
    assert "merging: 144/144 merges (100.0%)" in err


class Recorder:
    bars: ClassVar[list[Recorder]] = []

    def __init__(self, label: str, total: int, enabled: object = None, unit: str = "") -> None:
        self.label, self.total = label, total
        self.updates: list[tuple[int, int | None]] = []
        self.closed = False
        Recorder.bars.append(self)

    def update(self, done: int, total: int | None = None) -> None:
        self.updates.append((done, total))

    def close(self) -> None:
        self.closed = True


def test_progress_callback_is_reached(monkeypatch, sample):
    Recorder.bars = []
    monkeypatch.setattr(trainer_module, "Progress", Recorder)
    tok = quiet(vocab_size=500, special_tokens=[EOT]).train(sample)
    counting, merging = Recorder.bars
    assert counting.label == "counting" and counting.updates[-1] == (len(sample), None)
    assert merging.label == "merging"
    wanted = 500 - 256 - 1
    assert merging.updates[0] == (0, wanted)
    assert merging.updates[-1] == (wanted, wanted)
    dones = [d for d, _ in merging.updates]
    assert dones == sorted(dones)
    assert counting.closed and merging.closed
    assert tok.vocab_size == 500


def test_progress_callback_stops_early_training(monkeypatch, sample):
    Recorder.bars = []
    monkeypatch.setattr(trainer_module, "Progress", Recorder)
    tok = quiet(vocab_size=20_000).train(["abab abab"] * 3)
    assert Recorder.bars[1].updates[-1] == (3, 20_000 - 256)
    assert tok.vocab_size == 259


def test_an_exception_in_the_callback_propagates(monkeypatch, sample):
    class Stop(Exception):
        pass

    class Failing(Recorder):
        def update(self, done: int, total: int | None = None) -> None:
            if self.label == "merging" and done > 10:
                raise Stop

    monkeypatch.setattr(trainer_module, "Progress", Failing)
    with pytest.raises(Stop):
        quiet(vocab_size=3000).train(sample)


# ------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"vocab_size": 255}, ValueError, "vocab_size must be at least 256"),
        (
            {"vocab_size": 257, "special_tokens": ["a", "b"]},
            ValueError,
            r"at least 256 \+ 2 special",
        ),
        ({"vocab_size": -1}, ValueError, "vocab_size"),
        ({"min_frequency": -1}, ValueError, "min_frequency must be >= 0"),
        ({"special_tokens": EOT}, TypeError, "single string"),
        ({"max_token_length": 0}, ValueError, "max_token_length must be None or an int >= 1"),
    ],
)
def test_bad_trainer_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        BpeTrainer(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"special_tokens": [EOT, "<|pad|>", EOT]}, "listed twice"),
        ({"special_tokens": [""]}, "must not be empty"),
        ({"pattern": "("}, "pattern"),
    ],
)
def test_bad_training_settings_raise_value_error(kwargs, message):
    trainer = quiet(vocab_size=300, **kwargs)
    with pytest.raises(ValueError, match=message):
        trainer.train(["some text here"])


def test_texts_must_be_an_iterable_of_strings():
    trainer = quiet(vocab_size=300)
    for call in (trainer.train, trainer.count, WordCounts().add_texts):
        with pytest.raises(TypeError, match="single string"):
            call("a single string")
        with pytest.raises(TypeError, match="must be strings"):
            call(["fine", b"bytes"])
        with pytest.raises(TypeError, match="must be strings"):
            call(["fine", 3])
        with pytest.raises(TypeError, match="must be strings"):
            call([None])


def test_word_counts_from_bad_bytes():
    good = quiet(vocab_size=300).count(["low lower lowest", "abc abc"]).to_bytes()
    assert WordCounts.from_bytes(good).to_bytes() == good
    for cut in range(len(good)):
        with pytest.raises(TokenizerFormatError):
            WordCounts.from_bytes(good[:cut])
    for bad in (
        good + b"\x00",  # trailing data
        b"XXXX" + good[4:],  # magic
        good[:4] + b"\x02" + good[5:],  # version
        b"SQWC\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",  # huge word count
        b"SQWC\x01\x02\x01a\x01\x01a\x01",  # the same word twice
        b"SQWC\x01\x02\x01b\x01\x01a\x01",  # words out of order
        b"SQWC\x01\x01\x01a\x00",  # zero count
        b"SQWC\x01\x01\x00\x01",  # empty word
    ):
        with pytest.raises(TokenizerFormatError):
            WordCounts.from_bytes(bad)


@given(data=st.binary(max_size=64))
@example(data=b"SQWC\x01\x00")
def test_word_counts_from_garbage_bytes(data):
    try:
        counts = WordCounts.from_bytes(data)
    except TokenizerFormatError:
        return
    # Whatever is accepted is canonical: it writes back the same bytes.
    assert counts.to_bytes() == data


@given(data=st.binary(max_size=40).map(lambda b: b"SQWC\x01" + b))
def test_word_counts_from_garbage_after_a_good_header(data):
    try:
        counts = WordCounts.from_bytes(data)
    except TokenizerFormatError:
        return
    assert counts.to_bytes() == data


def test_merging_counts_with_different_patterns():
    a, b = WordCounts("gpt2"), WordCounts("cl100k")
    a.add_texts(["hello world"])
    b.add_texts(["hello world"])
    with pytest.raises(ValueError, match="different patterns"):
        a.merge(b)
    with pytest.raises(ValueError, match="different patterns"):
        _ = a + b
    with pytest.raises(TypeError, match="can only merge WordCounts"):
        a.merge({"hello": 1})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pattern"):
        quiet(vocab_size=300, pattern="cl100k").train_from_counts(a)
    # The pattern travels with a pickle, not with to_bytes().
    assert pickle.loads(pickle.dumps(b)).pattern == "cl100k"
    assert WordCounts.from_bytes(b.to_bytes()).pattern == "gpt2"


def test_word_counts_basics():
    counts = WordCounts()
    counts.add_texts(["the cat the hat", "the"])
    counts.add_word(" cat", 3)
    counts.add_word(b" hat")
    counts.add_word("", 5)  # ignored
    counts.add_word("x", 0)  # ignored
    assert counts.total == 9
    assert len(counts) == 4
    assert counts.most_common(1) == [(b" cat", 4)]
    assert dict(counts.most_common(10)) == {b"the": 2, b" the": 1, b" cat": 4, b" hat": 2}
    assert "4 distinct words, 9 in all" in repr(counts)


def test_texts_are_counted_in_batches(monkeypatch, sample):
    # Small batches give the same counts as one.
    want = quiet(vocab_size=300).count(sample[:100]).to_bytes()
    monkeypatch.setattr(trainer_module, "BATCH_BYTES", 50)
    assert quiet(vocab_size=300).count(sample[:100]).to_bytes() == want
