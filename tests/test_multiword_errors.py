"""Bad input to MultiWordTokenizer: malformed, truncated, garbage and
oversized files and a file for another base raise TokenizerFormatError naming
the problem; bad training arguments and text of the wrong type raise
TypeError or ValueError."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from seqcore.errors import DisallowedSpecialTokenError, TokenizerFormatError
from seqcore.tokenize import MAX_MULTIWORD_JSON_BYTES, MultiWordTokenizer
from seqcore.tokenize._multiword import MAX_NGRAM_ORDER
from tests.multiword_helpers import EOT, mwt_json

# The fixtures verses, base, mwt and small_base are shared: tests/conftest.py.

# ----------------------------------------------------------- malformed files


def test_load_with_a_different_base(mwt, small_base, tmp_path):
    path = tmp_path / "mwt.json"
    mwt.save(path)
    with pytest.raises(TokenizerFormatError, match="base_vocab_size"):
        MultiWordTokenizer.load(path, small_base)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format": "seqcore.other"}, "format"),
        ({"format": None}, "format"),
        ({"version": 2}, "version"),
        ({"version": "1"}, "version"),
        ({"base_vocab_size": 1999}, "base_vocab_size"),
        ({"base_vocab_size": None}, "base_vocab_size"),
        ({"ngrams": None}, "ngrams"),
        ({"ngrams": {"a": 1}}, "ngrams"),
        ({"ngrams": [[" of"]]}, "ngrams\\[0\\]"),
        ({"ngrams": [[]]}, "ngrams\\[0\\]"),
        ({"ngrams": [[" a", " b", " c", " d", " e", " f", " g", " h", " i"]]}, "ngrams\\[0\\]"),
        ({"ngrams": [[" of", " the"], [" of", "!"]]}, "ngrams\\[1\\]"),
        ({"ngrams": [[" of", " the x"]]}, "not a word"),
        ({"ngrams": [[" of", "  the"]]}, "not a word"),
        ({"ngrams": [[" of", ""]]}, "not a word"),
        ({"ngrams": [[" of", " "]]}, "not a word"),
        ({"ngrams": [["of\n", " the"]]}, "not a word"),
        ({"ngrams": [[" of", " " + "a" * 70_000]]}, "at most 65534 bytes"),
        ({"ngrams": [[" of", " the"], [" of", " the"]]}, "twice"),
        ({"ngrams": [[" of", " the"], [" of", " th", "e"]]}, "twice"),
        ({"ngrams": [[" of", 3]]}, "ngrams\\[0\\]"),
        ({"ngrams": [" of the"]}, "ngrams\\[0\\]"),
    ],
)
def test_malformed_files(base, changes, message):
    with pytest.raises(TokenizerFormatError, match=message):
        MultiWordTokenizer.from_json(mwt_json(base, **changes), base)


def test_truncated_files(mwt, base):
    data = mwt.to_json().encode()
    for cut in [*range(0, 200), *range(200, len(data), max(1, len(data) // 300))]:
        with pytest.raises(TokenizerFormatError):
            MultiWordTokenizer.from_json(data[:cut], base)
    for bad in (b"", b"null", b"[]", b"{}", b"\xff\xfe", data + b"x", data[:-1] + b",}"):
        with pytest.raises(TokenizerFormatError):
            MultiWordTokenizer.from_json(bad, base)


@given(data=st.binary(max_size=200))
@example(data=b'{"format": "seqcore.multiword"}')
@example(data=b'{"format": "seqcore.multiword", "version": 1}')
def test_garbage_bytes(base, data):
    with pytest.raises(TokenizerFormatError):
        MultiWordTokenizer.from_json(data, base)


@given(ngrams=st.lists(st.lists(st.text(max_size=6), max_size=10), max_size=5))
def test_any_ngram_list_loads_or_raises_a_format_error(base, ngrams):
    try:
        m = MultiWordTokenizer.from_json(mwt_json(base, ngrams=ngrams), base)
    except TokenizerFormatError:
        return
    assert m.ngrams == ngrams
    text = " ".join(w for ws in ngrams for w in ws)
    assert m.decode(m.encode(text, disallowed_special=())) == text


def test_files_over_the_size_cap_are_refused(base, tmp_path):
    path = tmp_path / "huge.json"
    with open(path, "wb") as f:
        f.truncate(MAX_MULTIWORD_JSON_BYTES + 1)  # sparse: nothing is written
    with pytest.raises(TokenizerFormatError, match="limit"):
        MultiWordTokenizer.load(path, base)
    with pytest.raises(FileNotFoundError):
        MultiWordTokenizer.load(tmp_path / "missing.json", base)


# ------------------------------------------------------------ bad arguments


def test_bad_training_arguments(base, verses):
    texts = verses[:20]
    with pytest.raises(TypeError, match="base_tokenizer"):
        MultiWordTokenizer.train(base._native, texts)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="single string"):
        MultiWordTokenizer.train(base, "of the")
    with pytest.raises(TypeError, match="must be strings"):
        MultiWordTokenizer.train(base, ["of the", 3])  # type: ignore[list-item]
    for orders in [(), (1,), (2, 9), (0,)]:
        with pytest.raises(ValueError, match="ngram_orders"):
            MultiWordTokenizer.train(base, texts, ngram_orders=orders)
    with pytest.raises(ValueError, match="top_k"):
        MultiWordTokenizer.train(base, texts, top_k=-1)
    with pytest.raises(ValueError, match="min_count"):
        MultiWordTokenizer.train(base, texts, min_count=-1)


def test_text_of_the_wrong_type(mwt):
    methods = (
        mwt.encode,
        mwt.encode_to_numpy,
        mwt.encode_with_offsets,
        mwt.encode_with_offsets_to_numpy,
    )
    for bad in (None, b"of the", 5, ["of the"]):
        for method in methods:
            with pytest.raises(TypeError):
                method(bad)  # type: ignore[arg-type]
    with pytest.raises(DisallowedSpecialTokenError):
        mwt.encode_with_offsets(f"of the{EOT}")


def test_stats_needs_an_iterable_of_strings(mwt):
    with pytest.raises(TypeError, match="single string"):
        mwt.stats("of the people")
    with pytest.raises(TypeError, match="position 1"):
        mwt.stats(["of the", 3])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        mwt.stats(None)  # type: ignore[arg-type]
    assert mwt.stats(iter(["of the people"])).total_base > 0


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"ngram_orders": (-1,)}, ValueError, r"ngram_orders must be .* from 2 to 8, got \[-1\]"),
        ({"ngram_orders": (2, 2**64)}, ValueError, "ngram_orders"),
        ({"ngram_orders": (True,)}, TypeError, "ngram_orders must hold ints, got bool"),
        ({"ngram_orders": (2.0,)}, TypeError, "ngram_orders must hold ints, got float"),
        ({"ngram_orders": 2}, TypeError, "ngram_orders must be a sequence of ints"),
        ({"ngram_orders": "23"}, TypeError, "ngram_orders must be a sequence of ints"),
        ({"top_k": 2**64}, ValueError, r"top_k must be an int from 0 to 2\*\*64 - 1"),
        ({"top_k": None}, TypeError, "top_k must be an int, got NoneType"),
        ({"top_k": True}, TypeError, "top_k must be an int, got bool"),
        ({"top_k": 1.5}, TypeError, "top_k must be an int, got float"),
        ({"min_count": 2**64}, ValueError, "min_count must be an int from 0"),
        ({"min_count": None}, TypeError, "min_count must be an int"),
    ],
)
def test_training_options_out_of_range_or_of_the_wrong_type(base, kwargs, error, message):
    with pytest.raises(error, match=message):
        MultiWordTokenizer.train(base, ["of the people"] * 3, **kwargs)


def test_the_largest_order_is_the_file_formats(base):
    """Training takes orders up to MAX_NGRAM_ORDER, which the file format also
    takes; one more is refused by both."""
    text = " ".join(["of"] * (MAX_NGRAM_ORDER + 2))
    m = MultiWordTokenizer.train(base, [text] * 3, ngram_orders=(MAX_NGRAM_ORDER,))
    assert {len(words) for words in m.ngrams} == {MAX_NGRAM_ORDER}
    assert MultiWordTokenizer.from_json(m.to_json(), base).ngrams == m.ngrams
    with pytest.raises(ValueError, match="ngram_orders"):
        MultiWordTokenizer.train(base, [text], ngram_orders=(MAX_NGRAM_ORDER + 1,))
    words = ["of"] + [" of"] * MAX_NGRAM_ORDER
    with pytest.raises(TokenizerFormatError, match="ngrams"):
        MultiWordTokenizer.from_json(mwt_json(base, ngrams=[words]), base)


def test_loading_needs_a_base_tokenizer(mwt, base, tmp_path):
    path = tmp_path / "mwt.json"
    mwt.save(path)
    data = mwt.to_json()
    for bad in (None, "x", base._native, mwt):
        with pytest.raises(TypeError, match="base_tokenizer must be a seqcore Tokenizer"):
            MultiWordTokenizer.from_json(data, bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="base_tokenizer must be a seqcore Tokenizer"):
            MultiWordTokenizer.load(path, bad)  # type: ignore[arg-type]
    for bad_data in (None, 5, bytearray(b"{}"), ["{}"]):
        with pytest.raises(TypeError, match="data must be str or bytes"):
            MultiWordTokenizer.from_json(bad_data, base)  # type: ignore[arg-type]
    assert MultiWordTokenizer.load(str(path).encode(), base).ngrams == mwt.ngrams


def test_a_file_descriptor_is_not_a_path(mwt, base, tmp_path):
    """An int (or a bool) would be read or written as a file descriptor, then
    closed: the caller's file, or stdout for True."""
    path = tmp_path / "mwt.json"
    mwt.save(path)
    with open(path, "rb") as f:
        with pytest.raises(TypeError, match="path must be a file path"):
            MultiWordTokenizer.load(f.fileno(), base)  # type: ignore[arg-type]
        assert f.read(1) == b"{"  # still open, nothing read
    with open(tmp_path / "out.json", "wb") as f:
        with pytest.raises(TypeError, match="path must be a file path"):
            mwt.save(f.fileno())  # type: ignore[arg-type]
        f.write(b"still open")
    for bad in (True, False, None, 2.5):
        with pytest.raises(TypeError, match="path must be a file path"):
            MultiWordTokenizer.load(bad, base)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="path must be a file path"):
            mwt.save(bad)  # type: ignore[arg-type]
