"""Bad arguments to seqcore.tokenize.Tokenizer: ids out of range or of the
wrong type, text of the wrong type or holding lone surrogates, and options.
Each check catches only the expected exception class."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import pytest

from seqcore.errors import DisallowedSpecialTokenError, TokenizerFormatError
from seqcore.tokenize import Tokenizer
from tests.tokenizer_files import (
    RANKS,
    dumps,
    gpt2_doc,
    llama_doc,
    load_json,
)
from tests.tokenizer_helpers import bytes_to_unicode

# ------------------------------------------------------ ids, text, options


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return Tokenizer.from_json(dumps(gpt2_doc(all_bytes=True)))


@pytest.fixture(scope="module")
def gappy() -> Tokenizer:
    """Ranks 0-263 and 1000: ids 264-999 do not exist."""
    return Tokenizer.from_tiktoken_bytes(RANKS + base64.b64encode(b"xyz") + b" 1000\n", "gpt2")


BAD_IDS = [-1, -(2**31), -(2**63), 2**31, 2**32, 2**40, 2**63 - 1]


def test_ids_out_of_range(tok: Tokenizer, gappy: Tokenizer) -> None:
    for bad in [tok.vocab_size, tok.vocab_size + 1, *BAD_IDS]:
        with pytest.raises(IndexError):
            tok.decode([bad])
        with pytest.raises(IndexError):
            tok.decode([1, bad, 2])
        with pytest.raises(IndexError):
            tok.decode_bytes([bad])
        with pytest.raises(IndexError):
            tok.decode_batch([[1], [bad]])
        with pytest.raises(IndexError):
            tok.decode(np.array([bad], dtype=np.int64))
        with pytest.raises(IndexError):
            tok.id_to_token(bad)
        with pytest.raises(IndexError):
            tok.id_to_bytes(bad)
    for missing in (264, 500, 999, 1001):
        with pytest.raises(IndexError):
            gappy.decode([missing])
        with pytest.raises(IndexError):
            gappy.id_to_bytes(missing)
    assert gappy.decode_bytes([1000]) == b"xyz"


def test_ids_of_the_wrong_type(tok: Tokenizer) -> None:
    for bad in ([1.5], ["1"], [None], [b"a"], [[1]], [1, "x"], "abc", b"abc", None, 5, 1.5):
        with pytest.raises(TypeError):
            tok.decode(bad)
        with pytest.raises(TypeError):
            tok.decode_bytes(bad)
        with pytest.raises(TypeError):
            tok.decode_batch([[1], bad])
    with pytest.raises(TypeError):
        tok.decode(np.array([1.5]))
    with pytest.raises(ValueError):
        tok.decode(np.array([[1, 2]]))
    for bad in ("1", 1.5, None, [1]):
        with pytest.raises(TypeError):
            tok.id_to_token(bad)
        with pytest.raises(TypeError):
            tok.id_to_bytes(bad)
    with pytest.raises(TypeError):
        tok.token_to_id(5)
    # Ids given other ways than a list of ints.
    h, e = tok.token_to_id(b"h"), tok.token_to_id(b"e")
    assert tok.decode((h, e)) == tok.decode(iter([h, e])) == "he"
    for dtype in (np.int32, np.int64, np.uint8, np.uint32, np.uint64):
        assert tok.decode(np.array([h, e], dtype=dtype)) == "he"
    assert tok.decode(iter([np.int64(h)])) == "h"


def test_decode_int_beyond_i64_is_index_error(tok: Tokenizer) -> None:
    for bad in (2**64, -(2**70)):
        with pytest.raises(IndexError):
            tok.decode([bad])
        with pytest.raises(IndexError):
            tok.decode((1, bad))


def test_decode_numpy_scalars_in_a_list(tok: Tokenizer) -> None:
    h = tok.token_to_id(b"h")
    assert tok.decode([np.int64(h)]) == tok.decode([np.uint32(h)]) == "h"


def test_id_to_token_beyond_i64_is_index_error(tok: Tokenizer) -> None:
    with pytest.raises(IndexError):
        tok.id_to_token(2**64)
    with pytest.raises(IndexError):
        tok.id_to_bytes(2**64)


def test_text_of_the_wrong_type(tok: Tokenizer) -> None:
    for bad in (None, b"hello", 5, ["hello"], bytearray(b"x")):
        with pytest.raises(TypeError):
            tok.encode(bad)
        with pytest.raises(TypeError):
            tok.encode_ordinary(bad)
        with pytest.raises(TypeError):
            tok.encode_with_offsets(bad)
        with pytest.raises(TypeError):
            tok.encode_to_numpy(bad)
        with pytest.raises(TypeError):
            tok.encode_with_offsets_to_numpy(bad)
        with pytest.raises(TypeError):
            tok.encode_batch(["fine", bad])
        with pytest.raises(TypeError):
            tok.encode_batch_to_numpy(["fine", bad])
    with pytest.raises(TypeError):
        tok.encode_batch(None)
    with pytest.raises(TypeError):
        tok.encode_batch_to_numpy(None)
    for bad in (None, 5, bytearray(b"{}"), ["{}"]):
        with pytest.raises(TypeError):
            Tokenizer.from_json(bad)
    with pytest.raises(TypeError):
        Tokenizer.from_tiktoken_bytes("not bytes")


def test_lone_surrogates(tok: Tokenizer) -> None:
    """Lone surrogates (not encodable as UTF-8) become U+FFFD, as in tiktoken."""
    for text in ("\ud800", "a\udc80b"):
        fixed = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        assert tok.encode(text) == tok.encode(fixed)
        assert tok.encode_batch(["a", text]) == [tok.encode("a"), tok.encode(fixed)]
        ids, bounds = tok.encode_batch_to_numpy(["a", text])
        assert ids.tolist() == tok.encode("a") + tok.encode(fixed)
        assert bounds.tolist() == [0, len(tok.encode("a")), len(ids)]
        assert tok.encode_ordinary(text) == tok.encode_ordinary(fixed)
        assert tok.encode_to_numpy(text).tolist() == tok.encode(fixed)
        assert tok.encode_with_offsets(text) == tok.encode_with_offsets(fixed)
        ids, spans = tok.encode_with_offsets_to_numpy(text)
        assert (ids.tolist(), [tuple(r) for r in spans.tolist()]) == tok.encode_with_offsets(fixed)


def test_offsets_of_text_with_surrogate_pairs(tok: Tokenizer) -> None:
    """A surrogate pair given as two code points is one character once
    replaced (as tiktoken encodes it); spans still index the text given."""
    text = "a\ud83d\ude00b \ud800 c \ud83d\ude00\ud83d\ude00 d\udc00"
    fixed = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    assert len(fixed) < len(text)
    ids, spans = tok.encode_with_offsets(text)
    assert ids == tok.encode(fixed)
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    for id, (start, end) in zip(ids, spans, strict=True):
        piece = text[start:end].encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        assert tok.id_to_bytes(id) in piece.encode(), (id, start, end)
    array_ids, array_spans = tok.encode_with_offsets_to_numpy(text)
    assert array_ids.tolist() == ids
    assert [tuple(row) for row in array_spans.tolist()] == spans


def test_special_token_options(tok: Tokenizer) -> None:
    with pytest.raises(ValueError, match="nope"):
        tok.encode("x", allowed_special={"nope"})
    with pytest.raises(ValueError, match="nope"):
        tok.encode("x", disallowed_special={"nope"})
    with pytest.raises(ValueError, match="nope"):
        tok.encode_batch(["x"], allowed_special={"<|end|>", "nope"})
    with pytest.raises(TypeError):
        tok.encode("x", allowed_special="everything")
    with pytest.raises(TypeError):
        tok.encode("x", disallowed_special="none")
    with pytest.raises(TypeError, match=r"allowed_special must be .* got int 5"):
        tok.encode("x", allowed_special=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"disallowed_special must be .* got float"):
        tok.encode_batch(["x"], disallowed_special=3.5)  # type: ignore[arg-type]
    with pytest.raises(DisallowedSpecialTokenError, match="<\\|end\\|>"):
        tok.encode("x<|end|>")
    assert tok.encode("x<|end|>", allowed_special=["<|end|>"])[-1] == 263


def test_decode_error_handlers(tok: Tokenizer) -> None:
    split = list("é".encode())  # two byte tokens, each alone invalid UTF-8
    ids = [tok.token_to_id(bytes([b])) for b in split]
    assert tok.decode(ids[:1]) == "\ufffd"
    assert tok.decode(ids[:1], errors="ignore") == ""
    assert tok.decode(ids[:1], errors="backslashreplace") == "\\xc3"
    with pytest.raises(UnicodeDecodeError):
        tok.decode(ids[:1], errors="strict")
    with pytest.raises(ValueError, match="error handler"):
        tok.decode(ids[:1], errors="no-such-handler")
    assert tok.decode(ids, errors="strict") == "é"


def test_save_tiktoken_needs_a_rank_file_tokenizer(tok: Tokenizer, tmp_path: Any) -> None:
    with pytest.raises(ValueError, match="rank file"):
        tok.save_tiktoken(tmp_path / "x.tiktoken")


def test_bad_split_regex_is_a_format_error() -> None:
    doc = llama_doc()
    doc["pre_tokenizer"]["pretokenizers"][0]["pattern"] = {"Regex": "(("}
    with pytest.raises(TokenizerFormatError, match="pre_tokenizer"):
        Tokenizer.from_json(dumps(doc))


def test_added_token_taking_a_byte_id() -> None:
    doc = gpt2_doc(all_bytes=True)
    doc["added_tokens"][0]["id"] = list(bytes_to_unicode()).index(5)  # byte 0x05's id
    result = load_json(dumps(doc))
    if isinstance(result, Tokenizer):
        assert result.decode(result.encode("a\x05b")) == "a\x05b"


def test_more_argument_checks() -> None:
    """Arguments that would otherwise be misread or raise unclear errors."""
    from seqcore.tokenize import BpeTrainer, MultiWordTokenizer, WordCounts

    tok = BpeTrainer(vocab_size=300, show_progress=False).train(["the end of the day"] * 20)
    mwt = MultiWordTokenizer.train(tok, ["the end of the day"] * 20, top_k=2)
    batches = (tok.encode_batch, mwt.encode_batch)
    for batch in (*batches, tok.encode_batch_to_numpy, mwt.encode_batch_to_numpy):
        with pytest.raises(TypeError, match="single string"):
            batch("abc")
    for decode in (tok.decode, mwt.decode):
        with pytest.raises(ValueError, match="error handler"):
            decode([0xE2], errors="bogus")
        assert decode([104, 0xE2], errors="backslashreplace") == "h\\xe2"
    with pytest.raises(ValueError, match="error handler"):
        tok.decode_batch([[1]], errors="bogus")
    # A misspelt preset is refused, not read as a regex matching that word.
    with pytest.raises(ValueError, match="not a preset"):
        Tokenizer.from_tiktoken_bytes(RANKS, "gpt5")
    with pytest.raises(ValueError, match="not a preset"):
        BpeTrainer(vocab_size=300, pattern="cl100").train(["x"])
    with pytest.raises(TypeError, match="vocab_size"):
        BpeTrainer(vocab_size="300")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_token_length"):
        BpeTrainer(vocab_size=300, max_token_length=0)
    with pytest.raises(TypeError, match="word"):
        WordCounts().add_word(5)  # type: ignore[arg-type]


# ------------------------------------------------------------------ paths


def test_a_file_descriptor_is_not_a_path(tok: Tokenizer, tmp_path: Any) -> None:
    """An int (or a bool) would be read or written as a file descriptor, then
    closed: the caller's file, or stdout for True."""
    json_path, rank_path = tmp_path / "tokenizer.json", tmp_path / "ranks.tiktoken"
    tok.save(json_path)
    rank_path.write_bytes(RANKS)
    for path, load in (
        (json_path, Tokenizer.from_file),
        (rank_path, lambda p: Tokenizer.from_tiktoken(p, "gpt2")),
    ):
        with open(path, "rb") as f:
            with pytest.raises(TypeError, match="path must be a file path"):
                load(f.fileno())
            assert f.read(1)  # still open, nothing read
    ranks = Tokenizer.from_tiktoken(rank_path, "gpt2")
    for save in (tok.save, ranks.save_tiktoken):
        with open(tmp_path / "out", "wb") as f:
            with pytest.raises(TypeError, match="path must be a file path"):
                save(f.fileno())
            f.write(b"still open")
    for bad in (True, False, None, 2.5, ["tokenizer.json"]):
        with pytest.raises(TypeError, match="path must be a file path"):
            Tokenizer.from_file(bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="path must be a file path"):
            Tokenizer.from_tiktoken(bad, "gpt2")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="path must be a file path"):
            tok.save(bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="path must be a file path"):
            ranks.save_tiktoken(bad)  # type: ignore[arg-type]


def test_paths_as_str_bytes_or_path_like(tok: Tokenizer, tmp_path: Any) -> None:
    path = tmp_path / "tokenizer.json"
    tok.save(str(path).encode())
    for given in (path, str(path), str(path).encode()):
        assert Tokenizer.from_file(given).to_json() == tok.to_json()


def test_a_refused_save_tiktoken_leaves_no_file(tok: Tokenizer, tmp_path: Any) -> None:
    with pytest.raises(ValueError, match="rank file"):
        tok.save_tiktoken(tmp_path / "x.tiktoken")
    assert not (tmp_path / "x.tiktoken").exists()


# --------------------------------------------------- constructor, specials


def test_special_tokens_must_be_a_dict(tmp_path: Any) -> None:
    path = tmp_path / "ranks.tiktoken"
    path.write_bytes(RANKS)
    for bad in ([("<|end|>", 300)], {"<|end|>"}, "<|end|>", ("<|end|>",), 300):
        with pytest.raises(TypeError, match="special_tokens must be a dict mapping"):
            Tokenizer.from_tiktoken(path, "gpt2", bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="special_tokens must be a dict mapping"):
            Tokenizer.from_tiktoken_bytes(RANKS, "gpt2", bad)  # type: ignore[arg-type]
    tok = Tokenizer.from_tiktoken(path, "gpt2", {"<|end|>": 300})
    assert tok.special_tokens == {"<|end|>": 300}


def test_the_class_does_not_read_files(tmp_path: Any) -> None:
    for path in ("tokenizer.json", tmp_path / "tokenizer.json", b"tokenizer.json"):
        with pytest.raises(TypeError, match=r"use Tokenizer\.from_file\(path\)"):
            Tokenizer(path)  # type: ignore[arg-type]
    for bad in (None, 5, {"model": {}}):
        with pytest.raises(TypeError, match=r"Tokenizer\.from_file, from_json or from_tiktoken"):
            Tokenizer(bad)  # type: ignore[arg-type]
