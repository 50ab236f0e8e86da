"""The ``seqcore`` command line (also ``python -m seqcore``)."""

from __future__ import annotations

import argparse
import math
import sys

#: Seeds go to torch.manual_seed (at most 2**64 - 1), some plus one.
MAX_SEED = 2**63 - 1


def _seconds(text: str) -> float:
    """``--seconds``: a finite number of seconds above 0."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not (math.isfinite(seconds) and seconds > 0):
        raise argparse.ArgumentTypeError(
            f"expected a finite number of seconds above 0, got {text!r}"
        )
    return seconds


def _seed(text: str) -> int:
    """``--seed``: a whole number from 0 to 2**63 - 1."""
    try:
        seed = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= seed <= MAX_SEED:
        raise argparse.ArgumentTypeError(
            f"expected a whole number from 0 to 2**63 - 1, got {text!r}"
        )
    return seed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="seqcore", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="the end-to-end demo: scans, a Mamba-style model, tokenization, beam search"
    )
    demo.add_argument(
        "--seconds", type=_seconds, default=60.0, help="training time in seconds (default 60)"
    )
    demo.add_argument(
        "--seed",
        type=_seed,
        default=0,
        help="random seed for the models and data, 0 to 2**63 - 1 (default 0)",
    )
    from seqcore.tokenize import cli as tokenizer_cli

    tokenizer_cli.add_parser(commands)
    args = parser.parse_args(argv)
    if args.command == "tokenizer":
        from seqcore.errors import SeqcoreError

        try:
            return tokenizer_cli.run(args)
        except (OSError, OverflowError, SeqcoreError, ValueError) as error:
            print(f"seqcore tokenizer: {error}", file=sys.stderr)
            return 1
    if args.command == "demo":
        from seqcore._torch import require_torch

        try:
            require_torch("seqcore demo")
        except ImportError as error:
            print(f"seqcore: {error}", file=sys.stderr)
            return 1
        from seqcore.demo import run_demo

        return run_demo(seconds=args.seconds, seed=args.seed)
    return 2  # pragma: no cover  (argparse rejects unknown commands)


if __name__ == "__main__":
    sys.exit(main())
