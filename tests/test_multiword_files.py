"""MultiWordTokenizer files: saving, loading (with the base loaded back from
its own JSON too) and pickling give the same ids, and hand-written files load
and match as written."""

from __future__ import annotations

import json
import pickle

from seqcore.errors import TokenizerFormatError
from seqcore.tokenize import MultiWordTokenizer, Tokenizer
from tests.multiword_helpers import EOT, mwt_json, split

# The fixtures verses, base, mwt and small_base are shared: tests/conftest.py.

# -------------------------------------------------------------- save, load


def test_save_load_and_pickle(mwt, base, verses, tmp_path):
    texts = [*verses[:300], f"of the{EOT}LORD"]
    want = mwt.encode_batch(texts, allowed_special="all")
    path = tmp_path / "mwt.json"
    mwt.save(path)
    loaded = MultiWordTokenizer.load(path, base)
    assert loaded.ngrams == mwt.ngrams and loaded.vocab_size == mwt.vocab_size
    assert loaded.encode_batch(texts, allowed_special="all") == want
    assert MultiWordTokenizer.load(str(path), base).to_json() == mwt.to_json()
    # With the base loaded back from its own JSON, as a user would.
    base_path = tmp_path / "tokenizer.json"
    base.save(base_path)
    reloaded = MultiWordTokenizer.load(path, Tokenizer.from_file(base_path))
    assert reloaded.encode_batch(texts, allowed_special="all") == want
    copy = pickle.loads(pickle.dumps(mwt))
    assert isinstance(copy, MultiWordTokenizer)
    assert copy.encode_batch(texts, allowed_special="all") == want
    assert copy.base.encode(texts[0]) == base.encode(texts[0])
    assert MultiWordTokenizer.from_json(mwt.to_json().encode(), base).ngrams == mwt.ngrams
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved["format"] == "seqcore.multiword" and saved["version"] == 1
    assert saved["base_vocab_size"] == base.vocab_size
    assert "MultiWordTokenizer(base_vocab_size=2000" in repr(mwt)


def test_a_hand_written_file_loads(base):
    m = MultiWordTokenizer.from_json(mwt_json(base), base)
    first = base.vocab_size
    assert m.encode("And he said of the LORD") == [first + 2, first, *base.encode(" LORD")]
    # Non-ASCII words, words the base splits, and 8-word n-grams are fine.
    ngrams = [[" été", " über"], ["x", "1", "y"], ["a", " b", " c", " d", " e", " f", " g", " h"]]
    m = MultiWordTokenizer.from_json(mwt_json(base, ngrams=ngrams), base)
    assert m.encode(" été über") == [first]
    assert m.encode("a b c d e f g h") == [first + 2]
    assert m.decode(m.encode("a b c d e f g h i")) == "a b c d e f g h i"


def test_ngram_matching_does_not_depend_on_unrelated_ngrams(small_base):
    # A loaded n-gram whose words the pre-tokenizer never produces (["a1", "2",
    # " x"]) once matched other pieces with the same bytes (["a", "12", " x"]),
    # but only when another n-gram started with "a". Refusing such words or
    # never matching them both give the base's ids here.
    text = "a12 x"
    assert split(text) == ["a", "12", " x"]
    try:
        alone = MultiWordTokenizer.from_json(
            mwt_json(small_base, ngrams=[["a1", "2", " x"]]), small_base
        )
        both = MultiWordTokenizer.from_json(
            mwt_json(small_base, ngrams=[["a1", "2", " x"], ["a", " q", " z"]]), small_base
        )
    except TokenizerFormatError:
        return
    assert alone.encode(text) == small_base.encode(text)
    assert both.encode(text) == small_base.encode(text)
