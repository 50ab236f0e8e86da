"""MultiWordTokenizer: exact round trips, the documented greedy semantics
(checked against a pure-Python encoder on ASCII text), the n-gram choice
(checked against direct counts), and each token's pieces. Saving and loading
are in test_multiword_files.py, malformed files and bad arguments in
test_multiword_errors.py."""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from seqcore.errors import DisallowedSpecialTokenError
from seqcore.tokenize import MultiWordStats, MultiWordTokenizer
from tests.multiword_helpers import (
    EOT,
    Table,
    is_word,
    mwt_json,
    reference_encode,
    reference_ngrams,
    split,
    table_of,
)

# The fixtures verses, base, mwt and small_base are shared: tests/conftest.py.


def test_the_python_splitter_is_the_gpt2_pre_tokenizer(verses):
    tokenizers = pytest.importorskip("tokenizers")
    pre = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    text = "\n".join(verses[:300]) + " x's  y\t\n\n z 12ab3 -- !?  \r\n"
    assert split(text) == [text[a:b] for _, (a, b) in pre.pre_tokenize_str(text)]


@given(text=st.text(st.characters(max_codepoint=127), max_size=60))
def test_the_python_splitter_on_any_ascii(text):
    tokenizers = pytest.importorskip("tokenizers")
    pre = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    assert split(text) == [text[a:b] for _, (a, b) in pre.pre_tokenize_str(text)]


# -------------------------------------------------------------- round trips


def test_round_trip_on_kjv(mwt, verses):
    texts = verses[::7]
    encoded = mwt.encode_batch(texts)
    assert [mwt.decode(ids) for ids in encoded] == texts
    assert any(i >= mwt.base.vocab_size for ids in encoded for i in ids)
    joined = "\n".join(verses[:400])
    assert mwt.decode(mwt.encode(joined)) == joined


@given(text=st.text())
@example(text="  of the\n\n  of  the  ")
@example(text="of the LORD 123 456 étéété")
def test_round_trip_on_any_text(mwt, text):
    ids = mwt.encode(text, disallowed_special=())
    as_array = mwt.encode_to_numpy(text, disallowed_special=())
    assert as_array.dtype == np.uint32 and as_array.tolist() == ids
    assert mwt.decode(ids, errors="strict") == text
    assert mwt.decode_bytes(ids) == text.encode()
    assert all(0 <= i < mwt.vocab_size for i in ids)
    with_special = f"{text}{EOT}{text}"
    ids = mwt.encode(with_special, allowed_special="all")
    assert mwt.decode(ids, errors="strict") == with_special
    assert ids.count(mwt.base.special_tokens[EOT]) == with_special.count(EOT)


def outcome(fn):
    try:
        return ("ok", fn())
    except Exception as error:
        return ("error", type(error))


@given(text=st.text())
@example(text="of the LORD of the land, I said unto him")
@example(text="  of the\n\n  of  the  é日本")
def test_offsets_span_each_token(mwt, base, text):
    """Each token's bytes lie in its span, an n-gram's span is exactly its
    words, spans run left to right, and the numpy form holds the same."""
    text = f"{text} of the LORD{EOT}I said unto him {text}"
    ids, spans = mwt.encode_with_offsets(text, allowed_special="all")
    assert ids == mwt.encode(text, allowed_special="all")
    last_start = 0
    for id, (start, end) in zip(ids, spans, strict=True):
        assert last_start <= start <= end <= len(text)
        last_start = start
        assert mwt.decode_bytes([id]) in text[start:end].encode()
        if id >= base.vocab_size:
            assert text[start:end] == "".join(mwt.ngrams[id - base.vocab_size])
    assert any(id >= base.vocab_size for id in ids)
    array_ids, array_spans = mwt.encode_with_offsets_to_numpy(text, allowed_special="all")
    assert array_ids.tolist() == ids
    assert [tuple(row) for row in array_spans.tolist()] == spans


def test_lone_surrogates_are_handled_like_the_base(mwt, base):
    # Either behaviour may be right; the two encoders must agree.
    text = "of the \udc80 LORD \ud800"
    assert outcome(lambda: mwt.decode_bytes(mwt.encode(text))) == outcome(
        lambda: base.decode_bytes(base.encode(text))
    )
    assert outcome(lambda: len(mwt.encode_batch([text]))) == outcome(
        lambda: len(base.encode_batch([text]))
    )


words = st.sampled_from(["the", "of", "LORD", "and", "I", "said", "unto", "him", "zq", "7", "12"])
separators = st.sampled_from([" ", " ", " ", "  ", "\n", ". ", ", ", "'s ", EOT, f" {EOT} "])


@st.composite
def word_text(draw, max_words: int = 25) -> str:
    ws = draw(st.lists(words, max_size=max_words))
    out = []
    for w in ws:
        out.append(w)
        out.append(draw(separators))
    return draw(st.sampled_from(["", " "])) + "".join(out)


@given(text=word_text())
@example(text=f"of the LORD{EOT} of the LORD")
def test_round_trip_with_special_tokens(mwt, base, text):
    ids = mwt.encode(text, allowed_special="all")
    assert mwt.decode(ids) == text
    assert ids.count(base.special_tokens[EOT]) == text.count(EOT)
    assert mwt.decode(ids, skip_special_tokens=True) == text.replace(EOT, "")
    if EOT in text:
        with pytest.raises(DisallowedSpecialTokenError):
            mwt.encode(text)
    plain = mwt.encode(text, disallowed_special=())
    assert base.special_tokens[EOT] not in plain
    assert mwt.decode(plain) == text


# ------------------------------------------------------------- the n-grams


def test_ngrams_hold_their_leading_space(mwt):
    first = mwt.base.vocab_size
    assert mwt.vocab_size == first + len(mwt.ngrams)
    assert [" of", " the"] in mwt.ngrams
    for i, ws in enumerate(mwt.ngrams):
        assert len(ws) in (2, 3)
        assert all(is_word(w) for w in ws)
        assert all(w.startswith(" ") for w in ws[1:])  # only the first can lack it
        assert mwt.decode_bytes([first + i]) == "".join(ws).encode()
    of_the = first + mwt.ngrams.index([" of", " the"])
    assert mwt.encode(" of the") == [of_the]
    assert mwt.encode("of the") != [of_the]
    assert mwt.decode([of_the]) == " of the"
    assert len({"".join(ws) for ws in mwt.ngrams}) == len(mwt.ngrams)


def test_trigrams_are_preferred(base):
    texts = ["in the end of the day"] * 10 + ["of the people"] * 30
    two = MultiWordTokenizer.train(base, texts, ngram_orders=(2,), top_k=100)
    both = MultiWordTokenizer.train(base, texts, ngram_orders=(2, 3), top_k=100)
    assert {len(ws) for ws in two.ngrams} == {2}
    assert {len(ws) for ws in both.ngrams} == {2, 3}
    first = base.vocab_size

    def id_of(m, *ws):
        return first + m.ngrams.index(list(ws))

    # " of the day" is a trigram even though " of the" is the most frequent bigram.
    assert both.encode(" of the day") == [id_of(both, " of", " the", " day")]
    assert two.encode(" of the day") == [id_of(two, " of", " the"), *base.encode(" day")]
    # Left to right: the n-gram starting first wins over a longer one after it.
    text = " end of the people"
    assert both.encode(text) == [
        id_of(both, " end", " of", " the"),
        *base.encode(" people"),
    ]
    assert both.encode(text) == reference_encode(both, text, False)


def test_never_merges_across_special_tokens(base):
    texts = [f"one two{EOT} three four"] * 10
    m = MultiWordTokenizer.train(base, texts, top_k=100)
    # The special token separates the words while counting: no " two three".
    assert m.ngrams == [[" three", " four"], ["one", " two"]]
    eot = base.special_tokens[EOT]
    first = base.vocab_size
    assert m.encode(texts[0], allowed_special="all") == [first + 1, eot, first]
    both = MultiWordTokenizer.from_json(
        json.dumps(
            {
                "format": "seqcore.multiword",
                "version": 1,
                "base_vocab_size": base.vocab_size,
                "ngrams": [[" two", " three"], ["two", " three"]],
            }
        ),
        base,
    )
    for text in (f" two{EOT} three", f" two{EOT}three", f"two{EOT} three"):
        ids = both.encode(text, allowed_special="all")
        assert ids == base.encode(text, allowed_special="all")
        assert not [i for i in ids if i >= first]
    # As plain text the special token's bytes are pieces between the words.
    assert both.encode(f" two{EOT} three", disallowed_special=()) == base.encode_ordinary(
        f" two{EOT} three"
    )
    assert both.encode(" two three") == [first]


def test_matches_the_reference_encoder_on_kjv(mwt, verses):
    table = table_of(mwt)
    for text in verses[::31]:
        assert mwt.encode(text) == reference_encode(mwt, text, False, table), text
    text = "\n".join(verses[-200:])
    assert mwt.encode(text) == reference_encode(mwt, text, False, table)


@pytest.fixture(scope="module")
def mwt_table(mwt) -> Table:
    return table_of(mwt)


@given(text=word_text())
@example(text="I said unto him I said unto him")
@example(text="the LORD of the LORD")
def test_matches_the_reference_encoder(mwt, mwt_table, text):
    want = reference_encode(mwt, text, True, mwt_table)
    assert mwt.encode(text, allowed_special="all") == want
    want = reference_encode(mwt, text, False, mwt_table)
    assert mwt.encode(text, disallowed_special=()) == want


@st.composite
def tiny_corpus(draw):
    vocab = ["a", "b", "ab", "zq", "the", "7"]
    seps = [" ", " ", " ", "\n", ". ", "  ", EOT]
    texts = []
    for _ in range(draw(st.integers(1, 6))):
        n = draw(st.integers(0, 12))
        parts = [draw(st.sampled_from(["", " "]))]
        for _ in range(n):
            parts.append(draw(st.sampled_from(vocab)))
            parts.append(draw(st.sampled_from(seps)))
        texts.append("".join(parts))
    return texts


@given(
    texts=tiny_corpus(),
    orders=st.sampled_from([(2,), (3,), (2, 3), (2, 4), (3, 5), (2, 3, 4, 5, 6)]),
    top_k=st.integers(0, 12),
    min_count=st.integers(0, 3),
    probe=tiny_corpus(),
)
@example(texts=["a b a b a b a"], orders=(2, 3), top_k=10, min_count=2, probe=[" a b a b a b"])
def test_training_and_encoding_match_the_references(
    small_base, texts, orders, top_k, min_count, probe
):
    m = MultiWordTokenizer.train(
        small_base, texts, ngram_orders=orders, top_k=top_k, min_count=min_count
    )
    assert m.ngrams == reference_ngrams(small_base, texts, orders, top_k, min_count)
    assert len(m.ngrams) <= top_k
    for text in texts + probe:
        assert m.encode(text, allowed_special="all") == reference_encode(m, text, True)
        assert m.encode(text, disallowed_special=()) == reference_encode(m, text, False)
        assert m.decode(m.encode(text, allowed_special="all")) == text


def test_top_k_and_min_count(base, verses):
    texts = verses[:2000]
    counts: Counter[tuple[str, ...]] = Counter()
    for text in texts:
        pieces = split(text)
        for n in (2, 3):
            for i in range(len(pieces) - n + 1):
                if all(map(is_word, pieces[i : i + n])):
                    counts[tuple(pieces[i : i + n])] += 1
    # Most frequent first; ties to the lower order, then the smaller bytes.
    ranked = sorted(counts, key=lambda ws: (-counts[ws], len(ws), "".join(ws).encode()))
    for top_k, min_count in [(0, 2), (1, 2), (50, 2), (10**6, 1), (10**6, 5), (30, 40)]:
        m = MultiWordTokenizer.train(
            base, texts, ngram_orders=(2, 3), top_k=top_k, min_count=min_count
        )
        got = [tuple(ws) for ws in m.ngrams]
        assert len(got) <= top_k
        assert all(counts[ws] >= min_count for ws in got)
        assert got == [ws for ws in ranked if counts[ws] >= min_count][:top_k]
    assert len(got) == 30 and counts[got[-1]] >= 40
    assert got[0] == (" of", " the")


def test_empty_vocabulary_is_the_base(base, verses):
    m = MultiWordTokenizer.train(base, verses[:50], top_k=0)
    assert m.ngrams == [] and m.vocab_size == base.vocab_size
    for text in verses[:50]:
        assert m.encode(text) == base.encode(text)
    m = MultiWordTokenizer.train(base, [], top_k=10)
    assert m.ngrams == []


def test_stats_equal_direct_counts(mwt, base, verses):
    texts = [*verses[-300:], "", f"of the{EOT} people", "  "]
    stats = mwt.stats(texts)
    assert isinstance(stats, MultiWordStats)
    assert stats.base_tokens == [len(base.encode_ordinary(t)) for t in texts]
    assert stats.multiword_tokens == [len(mwt.encode(t, disallowed_special=())) for t in texts]
    assert stats.total_base == sum(stats.base_tokens)
    assert stats.total_multiword == sum(stats.multiword_tokens)
    assert stats.fraction_saved == pytest.approx(1 - stats.total_multiword / stats.total_base)
    assert 0.05 < stats.fraction_saved < 0.5
    assert mwt.stats([]).fraction_saved == 0.0
    assert mwt.stats(iter(texts[:3])) == mwt.stats(texts[:3])


def test_encode_batch_equals_encode(mwt, verses):
    texts = [*verses[:500], "", EOT, f"a{EOT}b of the"]
    assert mwt.encode_batch(texts, disallowed_special=()) == [
        mwt.encode(t, disallowed_special=()) for t in texts
    ]
    assert mwt.encode_batch(texts, allowed_special="all") == [
        mwt.encode(t, allowed_special="all") for t in texts
    ]
    assert mwt.encode_batch(iter(verses[:5])) == [mwt.encode(t) for t in verses[:5]]
    ids, bounds = mwt.encode_batch_to_numpy(texts, allowed_special="all")
    assert ids.dtype == np.uint32 and bounds.dtype == np.int64 and len(bounds) == len(texts) + 1
    assert [ids[a:b].tolist() for a, b in itertools.pairwise(bounds)] == [
        mwt.encode(t, allowed_special="all") for t in texts
    ]
    for batch in (mwt.encode_batch, mwt.encode_batch_to_numpy):
        with pytest.raises(DisallowedSpecialTokenError):
            batch(texts)
        with pytest.raises(TypeError):
            batch(["ok", 5])  # type: ignore[list-item]


# ------------------------------------------------------------------- pieces


def test_pieces(mwt, base):
    first = base.vocab_size
    assert mwt.pieces(0) == [0]
    assert mwt.pieces(first - 1) == [first - 1]
    ngrams = mwt.ngrams
    for i in range(0, len(ngrams), 23):
        ws = ngrams[i]
        pieces = mwt.pieces(first + i)
        assert pieces == base.encode_ordinary("".join(ws))
        assert len(pieces) >= len(ws)
        assert base.decode_bytes(pieces) == mwt.decode_bytes([first + i])
    for bad in (-1, mwt.vocab_size, mwt.vocab_size + 10, 2**40):
        with pytest.raises(IndexError):
            mwt.pieces(bad)
    with pytest.raises(IndexError):
        mwt.decode([mwt.vocab_size])
    with pytest.raises((IndexError, OverflowError, ValueError)):
        mwt.decode([-1])


def best_time(fn, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def test_pieces_does_not_slow_down_with_the_number_of_ngrams(small_base):
    def make(n: int) -> MultiWordTokenizer:
        ngrams = [[f" w{i}", " x"] for i in range(n)]
        return MultiWordTokenizer.from_json(mwt_json(small_base, ngrams=ngrams), small_base)

    # Once quadratic: every call copied the whole n-gram list (5,000 n-grams:
    # 5.6 s for all of them, so init_multiword_embeddings took as long).
    small, big = make(20), make(20_000)
    first = small_base.vocab_size
    assert big.pieces(first + 19_999) == small_base.encode_ordinary(" w19999 x")
    assert small.pieces(first + 19) == small_base.encode_ordinary(" w19 x")
    t_small = best_time(lambda: [small.pieces(first + 19) for _ in range(50)])
    t_big = best_time(lambda: [big.pieces(first + 19_999) for _ in range(50)])
    assert t_big < 20 * t_small + 0.01
