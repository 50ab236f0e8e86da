"""Bad input to BpeTrainer and WordCounts: bad trainer arguments and training
settings, texts that are not strings, malformed or garbage WordCounts bytes,
and counts with different patterns."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from seqcore.errors import TokenizerFormatError
from seqcore.tokenize import BpeTrainer, WordCounts
from tests.bpe_trainer_helpers import EOT, quiet


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"vocab_size": 255}, ValueError, "vocab_size must be at least 256"),
        ({"vocab_size": 2**64}, ValueError, "vocab_size must be at most 16777216"),
        ({"vocab_size": 2**24 + 1}, ValueError, "vocab_size must be at most"),
        ({"vocab_size": True}, TypeError, "vocab_size must be an int, got bool"),
        ({"min_frequency": 2**64}, ValueError, r"min_frequency must be at most 2\*\*64 - 1"),
        ({"min_frequency": 2.0}, TypeError, "min_frequency must be an int, got float"),
        ({"max_token_length": 2**64}, ValueError, "max_token_length must be None or an int >= 1"),
        ({"max_token_length": True}, TypeError, "max_token_length must be None or an int"),
        ({"max_token_length": "4"}, TypeError, "max_token_length must be None or an int"),
        ({"special_tokens": None}, TypeError, "special_tokens must be a sequence of strings"),
        ({"special_tokens": {"<|x|>": 300}}, TypeError, "sequence of strings, got dict"),
        ({"special_tokens": ["<|x|>", 5]}, TypeError, "got int at position 1"),
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
    with pytest.raises(ValueError, match=message):
        quiet(vocab_size=300, **kwargs).train(["some text here"])


@pytest.mark.parametrize(
    ("specials", "message"),
    [([EOT, "<|pad|>", EOT], "listed twice"), (["<|pad|>", ""], "must not be empty")],
)
def test_bad_special_tokens_are_refused_before_counting(specials, message):
    """The trainer refuses them when it is made, not after a corpus is counted."""
    with pytest.raises(ValueError, match=message):
        BpeTrainer(vocab_size=300, special_tokens=specials)


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("(", "unclosed|without closing"),
        ("GPT2", "gpt2"),
    ],
)
def test_bad_patterns_are_refused_before_counting(pattern, message):
    """A pattern that cannot compile is refused when the trainer (or a
    WordCounts) is made, before any text is read; it used to surface only
    once a whole corpus had been counted."""

    def never_read():
        raise AssertionError("the texts were read")
        yield ""

    with pytest.raises(ValueError, match=message):
        BpeTrainer(vocab_size=300, pattern=pattern).train(never_read())
    with pytest.raises(ValueError, match=message):
        WordCounts(pattern)
    with pytest.raises(TypeError, match="pattern must be a preset name or a regex, got int"):
        WordCounts(3)  # type: ignore[arg-type]


def test_out_of_range_values_are_refused_when_the_trainer_is_made():
    """Values the native trainer cannot hold raise ValueError naming the
    argument at once (they raised OverflowError after counting)."""
    for name in ("vocab_size", "min_frequency", "max_token_length"):
        with pytest.raises(ValueError, match=name):
            BpeTrainer(**{name: 2**64})  # type: ignore[arg-type]
    # The largest allowed values are accepted.
    trainer = quiet(vocab_size=2**24, min_frequency=2**64 - 1, max_token_length=2**64 - 1)
    assert trainer.train(["abab abab"] * 3).vocab_size == 256


def test_counts_of_the_wrong_type():
    trainer = quiet(vocab_size=300)
    for bad in (None, 5, {"low": 3}, b"SQWC\x01\x00"):
        with pytest.raises(TypeError, match="counts must be WordCounts"):
            trainer.train_from_counts(bad)  # type: ignore[arg-type]
    for bad in (5, "counts", {"low": 3}):
        with pytest.raises(TypeError, match="counts must be WordCounts or None, got"):
            trainer.count(["low lower"], counts=bad)  # type: ignore[arg-type]
    counts = trainer.count(["low lower"])
    assert trainer.count(["lowest"], counts=counts) is counts
    assert counts.total == 3


def test_word_counts_arguments():
    counts = WordCounts()
    counts.add_texts(["low lower lowest"])
    with pytest.raises(ValueError, match="n must be >= 0, got -1"):
        counts.most_common(-1)
    for bad in (1.5, "2", None, True):
        with pytest.raises(TypeError, match="n must be an int"):
            counts.most_common(bad)  # type: ignore[arg-type]
    assert counts.most_common(2**64) == counts.most_common(len(counts))
    assert counts.most_common(0) == []
    with pytest.raises(ValueError, match=r"count must be an int from 0 to 2\*\*64 - 1"):
        counts.add_word("low", 2**64)
    with pytest.raises(ValueError, match="count must be an int from 0"):
        counts.add_word("low", -1)
    for bad in (True, 1.0, "3"):
        with pytest.raises(TypeError, match="count must be an int"):
            counts.add_word("low", bad)  # type: ignore[arg-type]


def test_file_paths_must_be_paths(tmp_path):
    trainer = quiet(vocab_size=300)
    for bad in (0, True, 3.5, None):
        with pytest.raises(TypeError, match="path"):
            trainer.train_from_files([bad])  # type: ignore[list-item]
    path = tmp_path / "corpus.txt"
    path.write_text("low lower lowest\n", encoding="utf-8")
    want = trainer.count_files([path]).to_bytes()
    assert trainer.count_files(str(path).encode()).to_bytes() == want
    assert trainer.count_files(path).to_bytes() == want


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
