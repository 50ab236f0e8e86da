"""``seqcore tokenizer train|encode|stats`` and the tokenizer stage of the demo."""

from __future__ import annotations

import contextlib
import io
import json
import re

import pytest

from seqcore.cli import main
from seqcore.tokenize import BpeTrainer, MultiWordTokenizer, Tokenizer


@pytest.fixture(scope="module")
def verses() -> list[str]:
    from seqcore.tokenize.corpus import kjv_verses

    try:
        return kjv_verses()
    except FileNotFoundError as error:
        pytest.skip(str(error))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, verses):
    """Runs ``tokenizer train`` once: (corpus paths, tokenizer.json, mwt.json, stdout)."""
    root = tmp_path_factory.mktemp("cli")
    first, second = root / "a.txt", root / "b.txt"
    first.write_text("\n".join(verses[:3000]) + "\n", encoding="utf-8")
    second.write_text("\n".join(verses[3000:5000]) + "\n", encoding="utf-8")
    out, mwt = root / "tokenizer.json", root / "mwt.json"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(
            [
                "tokenizer",
                "train",
                str(first),
                str(second),
                "-o",
                str(out),
                "--vocab-size",
                "800",
                "--special",
                "<|endoftext|>",
                "--special",
                "<|pad|>",
                "--mwt-output",
                str(mwt),
                "--mwt-orders",
                "2,3",
                "--mwt-top-k",
                "200",
            ]
        )
    assert code == 0, stderr.getvalue()
    return [first, second], out, mwt, stdout.getvalue()


def test_train_writes_the_tokenizer_and_multiword_tokens(trained, verses):
    (first, second), out, mwt_path, stdout = trained
    assert f"wrote {out}: 800 tokens" in stdout
    assert re.search(
        rf"wrote {re.escape(str(mwt_path))}: 200 n-grams, [0-9.]+% fewer tokens", stdout
    )
    tok = Tokenizer.from_file(out)
    assert tok.vocab_size == 800
    assert tok.special_tokens == {"<|endoftext|>": 798, "<|pad|>": 799}
    # The same as training in Python on the same files.
    want = BpeTrainer(
        vocab_size=800, special_tokens=["<|endoftext|>", "<|pad|>"], show_progress=False
    ).train_from_files([first, second])
    assert tok.to_json() == want.to_json()
    mwt = MultiWordTokenizer.load(mwt_path, tok)
    lines = verses[:5000]
    assert mwt.ngrams == MultiWordTokenizer.train(tok, lines, ngram_orders=(2, 3), top_k=200).ngrams
    assert {len(ws) for ws in mwt.ngrams} == {2, 3}


def test_encode_prints_the_ids_of_each_line(trained, capsys, tmp_path):
    _, out, mwt_path, _ = trained
    tok = Tokenizer.from_file(out)
    lines = [
        "In the beginning God created the heaven and the earth.",
        "",
        "special <|endoftext|> as text, and tabs\tand  spaces ",
        "non-ASCII: été 中文 🙂",
    ]
    path = tmp_path / "in.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["tokenizer", "encode", str(path), "-t", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert [json.loads(line) for line in printed] == [
        tok.encode(line, disallowed_special=()) for line in lines
    ]
    assert [json.loads(line) for line in printed] == [tok.encode_ordinary(line) for line in lines]
    # With the multi-word tokens, and two files in a row.
    mwt = MultiWordTokenizer.load(mwt_path, tok)
    code = main(
        ["tokenizer", "encode", str(path), str(path), "-t", str(out), "--mwt", str(mwt_path)]
    )
    assert code == 0
    printed = capsys.readouterr().out.splitlines()
    want = [mwt.encode(line, disallowed_special=()) for line in lines]
    assert [json.loads(line) for line in printed] == want + want
    assert any(i >= tok.vocab_size for ids in want for i in ids)


def test_encode_reads_stdin(trained, capsys, monkeypatch):
    _, out, _, _ = trained
    tok = Tokenizer.from_file(out)
    monkeypatch.setattr("sys.stdin", io.StringIO("one line\nand another\n"))
    assert main(["tokenizer", "encode", "-t", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert [json.loads(line) for line in printed] == [
        tok.encode("one line"),
        tok.encode("and another"),
    ]


def test_encode_with_a_tiktoken_rank_file(capsys, tmp_path):
    from seqcore.tokenize.corpus import cl100k_path

    try:
        ranks = cl100k_path()
    except FileNotFoundError as error:
        pytest.skip(str(error))
    path = tmp_path / "in.txt"
    path.write_text("hello world\n<|endoftext|> 12345\n", encoding="utf-8")
    assert main(["tokenizer", "encode", str(path), "-t", str(ranks), "--tiktoken", "cl100k"]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    cl100k = Tokenizer.from_tiktoken(ranks, "cl100k")
    assert printed == [
        cl100k.encode_ordinary("hello world"),
        cl100k.encode_ordinary("<|endoftext|> 12345"),
    ]
    assert printed[0] == [15339, 1917]


def test_stats(trained, capsys):
    (first, _), out, mwt_path, _ = trained
    tok = Tokenizer.from_file(out)
    assert main(["tokenizer", "stats", str(first), "-t", str(out)]) == 0
    printed = capsys.readouterr().out
    lines = first.read_text(encoding="utf-8").splitlines()
    n_tokens = sum(len(tok.encode_ordinary(line)) for line in lines)
    n_bytes = sum(len(line.encode()) for line in lines)
    assert f"lines {len(lines)}, bytes {n_bytes}, tokens {n_tokens}, " in printed
    assert f"bytes/token {n_bytes / n_tokens:.2f}" in printed
    assert "encode throughput" in printed
    assert "multi-word" not in printed
    assert main(["tokenizer", "stats", str(first), "-t", str(out), "--mwt", str(mwt_path)]) == 0
    printed = capsys.readouterr().out
    stats = MultiWordTokenizer.load(mwt_path, tok).stats(lines)
    assert (
        f"with multi-word tokens: {stats.total_multiword} tokens "
        f"({stats.fraction_saved:.1%} fewer)" in printed
    )
    assert stats.total_base == n_tokens


@pytest.mark.parametrize(
    "argv",
    [
        ["tokenizer", "train", "{missing}", "-o", "{tmp}/out.json", "--vocab-size", "300"],
        ["tokenizer", "encode", "{corpus}", "-t", "{missing}"],
        ["tokenizer", "encode", "{missing}", "-t", "{tokenizer}"],
        ["tokenizer", "stats", "{missing}", "-t", "{tokenizer}"],
        ["tokenizer", "stats", "{corpus}", "-t", "{tokenizer}", "--mwt", "{missing}"],
    ],
)
def test_a_missing_file_exits_with_1_and_a_message(trained, capsys, tmp_path, argv):
    (first, _), out, _, _ = trained
    missing = tmp_path / "no-such-file.txt"
    names = {"missing": missing, "tmp": tmp_path, "corpus": first, "tokenizer": out}
    assert main([a.format(**names) for a in argv]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("seqcore tokenizer: ")
    assert "No such file or directory" in captured.err
    assert str(missing) in captured.err
    assert not (tmp_path / "out.json").exists()


def test_bad_files_and_settings_exit_with_1(trained, capsys, tmp_path):
    (first, _), out, _, _ = trained
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json", encoding="utf-8")
    assert main(["tokenizer", "encode", str(first), "-t", str(garbage)]) == 1
    assert capsys.readouterr().err.startswith("seqcore tokenizer: ")
    assert main(["tokenizer", "stats", str(first), "-t", str(out), "--mwt", str(garbage)]) == 1
    assert capsys.readouterr().err.startswith("seqcore tokenizer: ")
    args = ["tokenizer", "train", str(first), "-o", str(tmp_path / "t.json")]
    assert main([*args, "--vocab-size", "100"]) == 1
    assert "vocab_size must be at least 256" in capsys.readouterr().err
    assert main([*args, "--vocab-size", "300", "--special", "x", "--special", "x"]) == 1
    assert "listed twice" in capsys.readouterr().err
    code = main(
        [
            *args,
            "--vocab-size",
            "300",
            "--mwt-output",
            str(tmp_path / "m.json"),
            "--mwt-orders",
            "1",
        ]
    )
    assert code == 1
    assert "ngram_orders" in capsys.readouterr().err


def test_argparse_errors_exit_with_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["tokenizer", "encode"])  # --tokenizer is required
    assert exit_info.value.code == 2
    assert "--tokenizer" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["tokenizer"])
    assert exit_info.value.code == 2


def test_demo_tokenizer_stage(capsys):
    from seqcore.demo_tokenize import run_tokenizer_stage

    try:
        from seqcore.tokenize.corpus import kjv_verses

        kjv_verses()
    except FileNotFoundError as error:
        pytest.skip(str(error))
    run_tokenizer_stage(vocab_size=2000)
    printed = capsys.readouterr().out
    assert "corpus: King James Bible, 31103 verses" in printed
    assert "BPE: 2000 tokens trained in" in printed
    match = re.search(
        r"held-back text: (\d+) tokens -> (\d+) with multi-word tokens \(([0-9.]+)% fewer\)",
        printed,
    )
    assert match, printed
    before, after, saved = int(match[1]), int(match[2]), float(match[3])
    assert after < before
    assert saved == pytest.approx(100 * (1 - after / before), abs=0.051)
    assert "encode, 1 thread" in printed


# ------------------------------------- arguments checked before training


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("in the end of the day\n" * 20, encoding="utf-8")
    return path


def train_args(corpus, out, *extra: str) -> list[str]:
    return ["tokenizer", "train", str(corpus), "-o", str(out), "--vocab-size", "300", *extra]


def one_line_error(err: str) -> str:
    assert err.startswith("seqcore tokenizer: "), err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--vocab-size", str(10**23)], "vocab_size must be at most"),
        (["--min-frequency", str(10**23)], "min_frequency must be at most"),
        (["--min-frequency", "-1"], "min_frequency must be >= 0"),
        (["--special", ""], "must not be empty"),
        (["--special", "<x>", "--special", "<x>"], "listed twice"),
        (["--mwt-output", "{tmp}/m.json", "--mwt-orders", "1"], "ngram_orders"),
        (["--mwt-output", "{tmp}/m.json", "--mwt-orders", "2,9"], "ngram_orders"),
        (["--mwt-output", "{tmp}/m.json", "--mwt-orders=-1"], "ngram_orders"),
        (["--mwt-output", "{tmp}/m.json", "--mwt-top-k", "-1"], "top_k"),
        (["--mwt-output", "{tmp}/m.json", "--mwt-top-k", str(2**64)], "top_k"),
        (["--mwt-output", "{tmp}/m.json", "--mwt-min-count", "-1"], "min_count"),
        (["--mwt-output", "{tmp}/no-such-dir/m.json"], "--mwt-output .* does not exist"),
        (["--mwt-output", "{tmp}"], "--mwt-output .* is a directory"),
        (["--mwt-output", ""], "--mwt-output must not be empty"),
        (["--mwt-output", "{tmp}/t.json"], "same file"),
    ],
)
def test_bad_settings_are_refused_before_training(corpus, tmp_path, capsys, extra, message):
    """One line on stderr, exit 1, no training (no progress) and no file written."""
    out = tmp_path / "t.json"
    argv = train_args(corpus, out, *(a.format(tmp=tmp_path) for a in extra))
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert re.search(message, one_line_error(captured.err))
    assert not out.exists()
    assert not (tmp_path / "m.json").exists()
    assert captured.out == ""


def test_an_output_directory_that_does_not_exist(corpus, tmp_path, capsys):
    out = tmp_path / "missing" / "t.json"
    assert main(train_args(corpus, out)) == 1
    err = one_line_error(capsys.readouterr().err)
    assert "-o/--output" in err and "does not exist" in err
    assert main(train_args(corpus, tmp_path)) == 1
    assert "is a directory" in one_line_error(capsys.readouterr().err)


def test_a_missing_second_file_is_found_before_training(corpus, tmp_path, capsys):
    out = tmp_path / "t.json"
    missing = tmp_path / "missing.txt"
    argv = ["tokenizer", "train", str(corpus), str(missing), "-o", str(out)]
    assert main(argv) == 1
    err = one_line_error(capsys.readouterr().err)
    assert "No such file or directory" in err and str(missing) in err
    assert not out.exists()


@pytest.mark.parametrize("orders", ["a,b", "", "2,", "2.5"])
def test_mwt_orders_that_are_not_numbers(corpus, tmp_path, capsys, orders):
    out = tmp_path / "t.json"
    argv = train_args(corpus, out, "--mwt-output", str(tmp_path / "m.json"), "--mwt-orders")
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, orders])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert (
        f"argument --mwt-orders: expected comma-separated whole numbers such as 2,3, got {orders!r}"
        in err
    )
    assert not out.exists()


def test_mwt_min_count_and_orders_reach_training(corpus, tmp_path, capsys):
    out, mwt_path = tmp_path / "t.json", tmp_path / "m.json"
    extra = ["--mwt-output", str(mwt_path), "--mwt-orders", "2,3", "--mwt-min-count", "21"]
    assert main(train_args(corpus, out, *extra)) == 0
    assert "0 n-grams" in capsys.readouterr().out
    assert MultiWordTokenizer.load(mwt_path, Tokenizer.from_file(out)).ngrams == []
    extra[-1] = "20"
    assert main(train_args(corpus, out, *extra)) == 0
    ngrams = MultiWordTokenizer.load(mwt_path, Tokenizer.from_file(out)).ngrams
    assert {len(words) for words in ngrams} == {2, 3}


# ------------------------------------------------- the demo's arguments


@pytest.fixture
def demo_calls(monkeypatch) -> list[dict[str, object]]:
    """Records the demo's arguments instead of running it."""
    import seqcore.demo

    calls: list[dict[str, object]] = []
    monkeypatch.setattr(seqcore.demo, "run_demo", lambda **kwargs: calls.append(kwargs) or 0)
    return calls


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--seconds", "inf"], "argument --seconds: expected a finite number of seconds above 0"),
        (["--seconds", "nan"], "argument --seconds: expected a finite number"),
        (["--seconds", "-5"], "argument --seconds: expected a finite number"),
        (["--seconds", "0"], "argument --seconds: expected a finite number"),
        (["--seconds", "soon"], "argument --seconds: expected a number of seconds"),
        (["--seed", str(2**70)], "argument --seed: expected a whole number from 0 to 2**63 - 1"),
        (["--seed", str(2**63)], "argument --seed: expected a whole number from 0"),
        (["--seed", "-1"], "argument --seed: expected a whole number from 0"),
        (["--seed", "1.5"], "argument --seed: expected a whole number"),
    ],
)
def test_bad_demo_arguments_exit_with_2(capsys, demo_calls, argv, message):
    """Checked before the demo starts: inf would never end, nan or a negative
    time would train no steps, a huge seed fails inside torch."""
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert demo_calls == []


def test_demo_arguments_at_their_limits_are_passed_on(demo_calls):
    pytest.importorskip("torch")
    assert main(["demo", "--seconds", "0.5", "--seed", str(2**63 - 1)]) == 0
    assert main(["demo"]) == 0
    assert demo_calls == [{"seconds": 0.5, "seed": 2**63 - 1}, {"seconds": 60.0, "seed": 0}]


def test_demo_help_describes_the_seed(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--help"])
    assert exit_info.value.code == 0
    assert "random seed" in " ".join(capsys.readouterr().out.split())
