"""BpeTrainer's options and features: vocabulary limits and round trips of
any text or bytes, special tokens, min_frequency and max_token_length, file
input, progress reports, and WordCounts' basics and batched counting."""

from __future__ import annotations

import io
import sys
from typing import ClassVar

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from seqcore.errors import DisallowedSpecialTokenError
from seqcore.tokenize import BpeTrainer, WordCounts
from seqcore.tokenize import _progress as progress_module
from seqcore.tokenize import _trainer as trainer_module
from tests.bpe_trainer_helpers import EOT, learned, merges, quiet, same_training
from tests.tokenizer_helpers import kjv

# The fixtures verses, sample and kjv_tok are shared: tests/conftest.py.


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


class Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_progress_ends_on_the_merges_learned_when_training_stops_early(monkeypatch):
    """The last update comes right after the previous one, within a redraw
    interval; the bar still ends on it, not on 0."""
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    tok = BpeTrainer(vocab_size=20_000, show_progress=True).train(["abab abab"] * 3)
    assert tok.vocab_size == 259
    err = terminal.getvalue()
    merging = [part for part in err.split("\r") if part.startswith("merging: ")]
    assert merging[0].startswith("merging: 0/19744 merges")
    assert merging[-1].startswith("merging: 3/19744 merges (  0.0%)")
    assert err.endswith("\n")
    counting = [part for part in err.split("\r") if part.startswith("counting: ")]
    assert counting[-1].startswith("counting: 3 texts")


def test_progress_in_a_log_writes_lines_without_redraws(capsys, monkeypatch):
    """Not on a terminal (capsys is not one): whole lines, no carriage
    returns; only the final state unless a run is long."""
    BpeTrainer(vocab_size=20_000, show_progress=True).train(["abab abab"] * 3)
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = err.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("counting: 3 texts")
    assert lines[1].startswith("merging: 3/19744 merges (  0.0%)")
    # A long run writes a line now and then (every update here).
    monkeypatch.setattr(progress_module, "LOG_INTERVAL", 0.0)
    BpeTrainer(vocab_size=20_000, show_progress=True).train(["abab abab"] * 3)
    err = capsys.readouterr().err
    assert "\r" not in err
    merging = [line for line in err.splitlines() if line.startswith("merging: ")]
    assert merging[0].startswith("merging: 0/19744")
    assert merging[-1].startswith("merging: 3/19744")
    assert sum(line.startswith("merging: 3/") for line in merging) == 1  # not again at close


def test_progress_closed_without_updates_shows_its_state(capsys):
    bar = progress_module.Progress("counting", 0, True, unit=" texts")
    bar.close()
    assert capsys.readouterr().err.startswith("counting: 0 texts")
    progress_module.Progress("hidden", 10, False).close()
    assert capsys.readouterr().err == ""


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


# ------------------------------------------------------------ word counts


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
