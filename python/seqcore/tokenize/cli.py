"""``seqcore tokenizer train|encode|stats``: the tokenizer from the shell."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from seqcore.tokenize import MultiWordTokenizer, Tokenizer


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser(
        "tokenizer", help="train, run and measure byte-level BPE tokenizers"
    )
    sub = parser.add_subparsers(dest="action", required=True)

    train = sub.add_parser(
        "train", help="learn a BPE vocabulary (and optionally multi-word tokens) from text files"
    )
    train.add_argument("files", nargs="+", help="UTF-8 text files")
    train.add_argument("-o", "--output", required=True, help="tokenizer.json to write")
    train.add_argument("--vocab-size", type=int, default=32000)
    train.add_argument("--min-frequency", type=int, default=2)
    train.add_argument(
        "--special", action="append", default=[], help="a special token (repeatable)"
    )
    train.add_argument("--pattern", default="gpt2", help="gpt2, cl100k, o200k, llama3 or a regex")
    train.add_argument("--mwt-output", help="also learn multi-word tokens and write them here")
    train.add_argument(
        "--mwt-top-k", type=int, default=5000, help="how many n-grams to keep (default 5000)"
    )
    train.add_argument(
        "--mwt-min-count",
        type=int,
        default=2,
        help="keep only n-grams seen at least this often (default 2)",
    )
    train.add_argument(
        "--mwt-orders",
        type=_orders,
        default=[2],
        help="comma-separated n-gram orders, e.g. 2,3 (default 2)",
    )

    encode = sub.add_parser(
        "encode", help="print the token ids of text files (or stdin), one line per input line"
    )
    encode.add_argument("files", nargs="*", help="UTF-8 text files (default: stdin)")
    encode.add_argument(
        "-t",
        "--tokenizer",
        required=True,
        help="tokenizer.json, or a tiktoken rank file with --tiktoken",
    )
    encode.add_argument(
        "--tiktoken", metavar="PATTERN", help="read --tokenizer as a rank file with this pattern"
    )
    encode.add_argument("--mwt", help="multi-word tokens file (from train --mwt-output)")

    stats = sub.add_parser(
        "stats", help="tokens, bytes per token and multi-word savings over text files"
    )
    stats.add_argument("files", nargs="+")
    stats.add_argument("-t", "--tokenizer", required=True)
    stats.add_argument("--tiktoken", metavar="PATTERN")
    stats.add_argument("--mwt")


def _orders(text: str) -> list[int]:
    """``--mwt-orders``: comma-separated whole numbers (their range is checked
    with the other multi-word options)."""
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated whole numbers such as 2,3, got {text!r}"
        ) from None


def _check_output(path: str, option: str) -> None:
    """ValueError if ``path`` cannot be written: checked before training, so
    no time is spent on a result that cannot be saved."""
    if not path:
        raise ValueError(f"{option} must not be empty")
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise ValueError(f"{option} {path!r} is a directory, not a file name")
    if not os.path.isdir(folder):
        raise ValueError(f"{option} {path!r}: the directory {folder!r} does not exist")
    if not os.access(folder, os.W_OK):
        raise ValueError(f"{option} {path!r}: the directory {folder!r} is not writable")


def _check_train_arguments(args: argparse.Namespace) -> None:
    """Everything ``train`` can check before it reads the corpus."""
    from seqcore.tokenize._multiword import check_training_options

    _check_output(args.output, "-o/--output")
    if args.mwt_output is not None:
        _check_output(args.mwt_output, "--mwt-output")
        if os.path.abspath(args.mwt_output) == os.path.abspath(args.output):
            raise ValueError(f"--mwt-output and -o/--output are the same file: {args.output!r}")
        check_training_options(args.mwt_orders, args.mwt_top_k, args.mwt_min_count)
    for path in args.files:
        with open(path, "rb"):  # exists, is a file and can be read
            pass


def _lines(files: list[str]) -> Iterator[str]:
    if not files:
        yield from (line.rstrip("\n") for line in sys.stdin)
        return
    for path in files:
        with open(path, encoding="utf-8", errors="replace") as f:
            yield from (line.rstrip("\n") for line in f)


def _load(args: argparse.Namespace) -> tuple[Tokenizer, MultiWordTokenizer | None]:
    from seqcore.tokenize import MultiWordTokenizer, Tokenizer

    tok = (
        Tokenizer.from_tiktoken(args.tokenizer, args.tiktoken)
        if args.tiktoken
        else Tokenizer.from_file(args.tokenizer)
    )
    mwt = MultiWordTokenizer.load(args.mwt, tok) if args.mwt else None
    return tok, mwt


def run(args: argparse.Namespace) -> int:
    from seqcore.tokenize import BpeTrainer, MultiWordTokenizer
    from seqcore.tokenize._progress import Progress

    if args.action == "train":
        start = time.perf_counter()
        trainer = BpeTrainer(
            args.vocab_size, args.min_frequency, args.special, args.pattern, show_progress=True
        )
        _check_train_arguments(args)
        tok = trainer.train_from_files(args.files)
        tok.save(args.output)
        print(
            f"wrote {args.output}: {tok.vocab_size} tokens in {time.perf_counter() - start:.1f} s"
        )
        if args.mwt_output is not None:
            texts = list(_lines(args.files))
            multi = MultiWordTokenizer.train(
                tok,
                texts,
                ngram_orders=args.mwt_orders,
                top_k=args.mwt_top_k,
                min_count=args.mwt_min_count,
            )
            multi.save(args.mwt_output)
            print(
                f"wrote {args.mwt_output}: {len(multi.ngrams)} n-grams, "
                f"{multi.stats(texts).fraction_saved:.1%} fewer tokens"
            )
        return 0
    tok, mwt = _load(args)
    model: Tokenizer | MultiWordTokenizer = mwt if mwt is not None else tok
    if args.action == "encode":
        out = sys.stdout
        for line in _lines(args.files):
            out.write(json.dumps(model.encode(line, disallowed_special=())) + "\n")
        return 0
    lines = list(_lines(args.files))
    bar = Progress("encoding", len(lines), None, unit=" lines")
    base_tokens = n_bytes = 0
    start = time.perf_counter()
    for i in range(0, len(lines), 10000):
        chunk = lines[i : i + 10000]
        base_tokens += sum(map(len, tok.encode_batch(chunk, disallowed_special=())))
        n_bytes += sum(len(line.encode()) for line in chunk)
        bar.update(i + len(chunk))
    bar.close()
    seconds = time.perf_counter() - start
    print(
        f"lines {len(lines)}, bytes {n_bytes}, tokens {base_tokens}, "
        f"bytes/token {n_bytes / max(base_tokens, 1):.2f}"
    )
    print(f"encode throughput {n_bytes / 1e6 / max(seconds, 1e-9):.1f} MB/s")
    if mwt is not None:
        stats = mwt.stats(lines)
        print(
            f"with multi-word tokens: {stats.total_multiword} tokens "
            f"({stats.fraction_saved:.1%} fewer)"
        )
    return 0
