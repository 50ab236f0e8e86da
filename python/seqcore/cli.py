"""The ``seqcore`` command line (also ``python -m seqcore``)."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="seqcore", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="the end-to-end demo: scans, a Mamba-style model, tokenization, beam search"
    )
    demo.add_argument("--seconds", type=float, default=60.0, help="training time (default 60)")
    demo.add_argument("--seed", type=int, default=0)
    from seqcore.tokenize import cli as tokenizer_cli

    tokenizer_cli.add_parser(commands)
    args = parser.parse_args(argv)
    if args.command == "tokenizer":
        from seqcore.errors import SeqcoreError

        try:
            return tokenizer_cli.run(args)
        except (OSError, SeqcoreError, ValueError) as error:
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
