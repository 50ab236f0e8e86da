"""Files and arguments that would make ids differ between seqcore and its peers
(or between a tokenizer and its saved form) are refused or read the peers' way."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import tokenizers
from tokenizers import decoders, models, pre_tokenizers, trainers

import seqcore
from seqcore import TokenizerFormatError
from seqcore.tokenize import Tokenizer
from tests.tokenizer_files import split_pre_tokenizer

TEXTS = ["hello world", "ab\ncd", "naïve café\n\n\nend", "x  y\n z"]


@pytest.fixture(scope="module")
def hf_json() -> dict[str, object]:
    """A small byte-level BPE trained by Hugging Face, "<s>" special at id 0."""
    tok = tokenizers.Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(["hello world", "ab cd naïve café"] * 50, trainer)
    return json.loads(tok.to_str())


def with_split(doc: dict[str, object], pattern: str) -> str:
    return json.dumps(dict(doc) | {"pre_tokenizer": split_pre_tokenizer(pattern)})


ONIGURUMA_READS_OTHERWISE = [
    r"[a-z]+$|\s+|.",
    r"^[a-z]|[a-z]+|\s+|.",
    r"\s*$|\s+|\S+",
    r"[$^]|\$|\w+|\s",
    r"(?m).{1,3}",
    r"(?i:A)|(?m:a.)|\s|.",
]


@pytest.mark.parametrize("pattern", ONIGURUMA_READS_OTHERWISE)
def test_split_anchors_are_line_anchors_as_in_hugging_face(
    hf_json: dict[str, object], pattern: str
) -> None:
    text = with_split(hf_json, pattern)
    ours, theirs = Tokenizer.from_json(text), tokenizers.Tokenizer.from_str(text)
    for sample in TEXTS:
        assert ours.encode(sample) == theirs.encode(sample).ids, (pattern, sample)
    # The saved form reads back to the same ids, by both libraries.
    again = ours.to_json()
    for sample in TEXTS:
        assert Tokenizer.from_json(again).encode(sample) == ours.encode(sample)
        assert tokenizers.Tokenizer.from_str(again).encode(sample).ids == ours.encode(sample)
    assert pickle.loads(pickle.dumps(ours)).encode(TEXTS[1]) == ours.encode(TEXTS[1])


def test_split_posix_classes_are_refused(hf_json: dict[str, object]) -> None:
    with pytest.raises(TokenizerFormatError, match="POSIX"):
        Tokenizer.from_json(with_split(hf_json, r"[[:alpha:]]+|\s+|."))


@pytest.mark.parametrize(
    "pattern", [r"[a-z]+$|\s+|.", r"^\s+|\S+|\s", r"(?s)a.|\s+|.", r"[$^]|\w+|\s"]
)
def test_custom_patterns_are_written_for_hugging_face(pattern: str) -> None:
    """seqcore reads its own patterns with the regex crate's meaning; the
    saved tokenizer.json must mean the same to Hugging Face."""
    texts = ["ab\ncd ab", "a\nb\n\n x", "$^ ab"] * 10
    tok = seqcore.BpeTrainer(vocab_size=280, pattern=pattern).train(texts)
    theirs = tokenizers.Tokenizer.from_str(tok.to_json())
    again = pickle.loads(pickle.dumps(tok))
    for sample in [*TEXTS, *texts[:3]]:
        assert theirs.encode(sample).ids == tok.encode(sample), (pattern, sample)
        assert again.encode(sample) == tok.encode(sample)


def test_patterns_with_no_hugging_face_spelling_are_not_written() -> None:
    tok = seqcore.BpeTrainer(vocab_size=260, pattern=r"(?m)^\w+|\s+|.").train(["a b"])
    with pytest.raises(ValueError, match=r"cannot be written as tokenizer\.json"):
        tok.to_json()


def test_added_token_ids_that_hugging_face_would_change_are_refused(
    hf_json: dict[str, object],
) -> None:
    doc = json.loads(json.dumps(hf_json))
    added = doc["added_tokens"]
    assert isinstance(added, list)
    # "<s>" is id 0 in the model's vocabulary.
    added[0]["id"] = 5
    with pytest.raises(TokenizerFormatError, match=r"added_tokens\[0\]\.id"):
        Tokenizer.from_json(json.dumps(doc))
    added[0]["id"] = 0
    # A new token on an id the vocabulary gives to another token.
    added.append(
        {"id": 100, "content": "<x>", "special": True, "normalized": False}
        | {"single_word": False, "lstrip": False, "rstrip": False}
    )
    with pytest.raises(TokenizerFormatError, match="in order from its size"):
        Tokenizer.from_json(json.dumps(doc))
    model = doc["model"]
    assert isinstance(model, dict)
    added[-1]["id"] = len(model["vocab"])
    ours = Tokenizer.from_json(json.dumps(doc))
    theirs = tokenizers.Tokenizer.from_str(json.dumps(doc))
    assert ours.encode("a<x>", allowed_special="all") == theirs.encode("a<x>").ids


@pytest.mark.parametrize("single", [["S"], ["A", "A"], ["S", "A", "S", "A"]])
def test_templates_without_exactly_one_text_are_refused(
    hf_json: dict[str, object], single: list[str]
) -> None:
    pieces = {
        "S": {"SpecialToken": {"id": "<s>", "type_id": 0}},
        "A": {"Sequence": {"id": "A", "type_id": 0}},
    }
    doc = dict(hf_json)
    doc["post_processor"] = {
        "type": "TemplateProcessing",
        "single": [pieces[p] for p in single],
        "pair": [],
        "special_tokens": {"<s>": {"id": "<s>", "ids": [0], "tokens": ["<s>"]}},
    }
    with pytest.raises(TokenizerFormatError, match="post_processor"):
        Tokenizer.from_json(json.dumps(doc))


def test_a_special_token_may_not_take_a_mergeable_rank() -> None:
    from seqcore.tokenize.corpus import CL100K_SPECIALS, cl100k_path

    path = cl100k_path()
    with pytest.raises(TokenizerFormatError, match="15339"):
        Tokenizer.from_tiktoken(path, "cl100k", {"<|endoftext|>": 15339})
    tok = Tokenizer.from_tiktoken(path, "cl100k", CL100K_SPECIALS)
    assert pickle.loads(pickle.dumps(tok)).encode("hello") == tok.encode("hello")


@pytest.fixture(scope="module")
def cl100k() -> Tokenizer:
    from seqcore.tokenize.corpus import CL100K_SPECIALS, cl100k_path

    return Tokenizer.from_tiktoken(cl100k_path(), "cl100k", CL100K_SPECIALS)


def test_ids_past_int64_are_out_of_range_not_the_wrong_type(cl100k: Tokenizer) -> None:
    for big in (np.uint64(2**63), np.uint64(2**64 - 1), 2**70):
        with pytest.raises(IndexError, match="out of range"):
            cl100k.decode([big])
        with pytest.raises(IndexError, match="out of range"):
            cl100k.id_to_token(big)
    with pytest.raises(IndexError, match="out of range"):
        cl100k.decode(np.array([1, 2**63], dtype=np.uint64))


def test_id_messages_say_what_is_wrong(cl100k: Tokenizer) -> None:
    # cl100k's ranks stop at 100255 and its specials start at 100257.
    with pytest.raises(IndexError, match="not in the vocabulary"):
        cl100k.decode([100261])
    with pytest.raises(IndexError, match="out of range for a vocabulary"):
        cl100k.decode([10**6])
    with pytest.raises(IndexError) as single:
        cl100k.id_to_token(-1)
    assert "position" not in str(single.value)
    with pytest.raises(IndexError, match="position 1"):
        cl100k.decode([0, -1])


def test_trained_specials_read_back_the_same_in_hugging_face() -> None:
    # "ĠĠ" is tokenizer.json's spelling of two spaces: no learned token may
    # take it, or Hugging Face reads the special as that token.
    texts = ["a  b  c  d"] * 20
    tok = seqcore.BpeTrainer(vocab_size=300, special_tokens=["ĠĠ"]).train(texts)
    theirs = tokenizers.Tokenizer.from_str(tok.to_json())
    for sample in ["ĠĠ", "x  y", "ĠĠ  "]:
        assert tok.encode(sample, allowed_special="all") == theirs.encode(sample).ids
    assert len(tok.get_vocab()) == tok.vocab_size
    for special in ["a", "Ġ", "Ā", "é"]:
        with pytest.raises(ValueError, match="single byte"):
            seqcore.BpeTrainer(vocab_size=300, special_tokens=[special]).train(texts)


def test_word_counts_merged_with_themselves_double() -> None:
    counts = seqcore.WordCounts()
    counts.add_texts(["low lower"])
    doubled = counts + counts
    counts.merge(counts)
    assert counts.most_common(10) == doubled.most_common(10)


def test_multiword_pieces_spell_their_token_on_a_prefix_space_base() -> None:
    hf = tokenizers.Tokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    hf.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    texts = ["x\nAnd the man"] * 20
    hf.train_from_iterator(texts, trainer)
    base = Tokenizer.from_json(hf.to_str())
    mwt = seqcore.MultiWordTokenizer.train(base, texts)
    assert ["And", " the"] in mwt.ngrams
    for i in range(len(mwt.ngrams)):
        token = base.vocab_size + i
        assert base.decode_bytes(mwt.pieces(token)) == mwt.decode_bytes([token])
    assert mwt.pieces(5) == [5]
    with pytest.raises(IndexError):
        mwt.pieces(mwt.vocab_size)


def test_multiword_decode_batch_is_decode_of_each() -> None:
    texts = ["in the end of the day", "of the day\n", ""]
    base = seqcore.BpeTrainer(vocab_size=300).train(texts * 20)
    mwt = seqcore.MultiWordTokenizer.train(base, texts * 20)
    batch = mwt.encode_batch(texts)
    assert mwt.decode_batch(batch) == texts
    assert mwt.decode_batch(np.asarray(ids, dtype=np.uint32) for ids in batch) == texts
    assert mwt.decode_batch([]) == []
    with pytest.raises(TypeError):
        mwt.decode_batch("abc")
    with pytest.raises(IndexError):
        mwt.decode_batch([[0], [mwt.vocab_size]])


def test_a_refused_save_leaves_no_file(tmp_path: Path) -> None:
    tok = seqcore.BpeTrainer(vocab_size=260, pattern=r"(?m)^\w+|\s+|.").train(["a b"])
    with pytest.raises(ValueError, match="cannot be written"):
        tok.save(tmp_path / "tokenizer.json")
    assert not (tmp_path / "tokenizer.json").exists()
