"""Benchmark of BPE training: seqcore's BpeTrainer against Hugging Face tokenizers.

Run: ``python benches/tokenize_train.py [--megabytes 50] [--vocab-size 32000]``.
The corpus is the King James Bible (20-verse chunks) followed by the
Python, text, Markdown and reStructuredText files of the installed
site-packages, until the size is reached: about 50 MB of mixed prose and
code, the same texts for both. Each trainer runs in its own process, which
prints its wall time and its peak resident memory (the corpus, held in
memory by both, included). Both use the GPT-2 byte-level pre-tokenizer, all
256 bytes as the initial alphabet and min_frequency 2, and both use every
core of the machine (2 here).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

from _common import machine


def build_corpus(megabytes: float) -> list[str]:
    from seqcore.tokenize.corpus import kjv_verses

    limit = int(megabytes * 1e6)
    verses = kjv_verses()
    texts = ["\n".join(verses[i : i + 20]) + "\n" for i in range(0, len(verses), 20)]
    total = sum(len(t.encode()) for t in texts)
    root = Path(sysconfig.get_paths()["purelib"])
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            if total >= limit:
                return texts
            if not name.endswith((".py", ".txt", ".md", ".rst")):
                continue
            try:
                data = (Path(dirpath) / name).read_bytes()
                text = data.decode("utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            if text and "\0" not in text:
                texts.append(text)
                total += len(data)
    return texts


def current_rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM starts afresh at exec;
    ru_maxrss would include the parent's memory from before the fork."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(which: str, corpus: str, vocab_size: int) -> None:
    texts = Path(corpus).read_text(encoding="utf-8").split("\0")
    loaded = current_rss_mb()
    # Reading and splitting the corpus peaks higher than training does;
    # restart the peak so it measures training (with the texts in memory).
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        pass
    start = time.perf_counter()
    if which == "seqcore":
        import seqcore

        tok = seqcore.BpeTrainer(vocab_size=vocab_size, min_frequency=2, show_progress=False).train(
            texts
        )
        size = tok.vocab_size
    else:
        from tokenizers import Tokenizer, models, pre_tokenizers, trainers

        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=2,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        tok.train_from_iterator(texts, trainer)
        size = tok.get_vocab_size()
    seconds = time.perf_counter() - start
    peak_mb = peak_rss_mb()
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "texts_mb": loaded, "vocab": size}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--megabytes", type=float, default=50.0)
    parser.add_argument("--vocab-size", type=int, default=32000)
    parser.add_argument("--child", choices=["seqcore", "hf"])
    parser.add_argument("--corpus")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.corpus, args.vocab_size)
        return
    import tokenizers

    print(machine(f"tokenizers {tokenizers.__version__}"))
    texts = build_corpus(args.megabytes)
    size = sum(len(t.encode()) for t in texts) / 1e6
    corpus = Path(os.environ.get("TMPDIR", "/tmp")) / "seqcore_train_corpus.txt"
    corpus.write_text("\0".join(texts), encoding="utf-8")
    print(f"corpus: {len(texts)} texts, {size:.1f} MB; vocab_size {args.vocab_size}")
    results = {}
    for which in ("seqcore", "hf"):
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                which,
                "--corpus",
                str(corpus),
                "--vocab-size",
                str(args.vocab_size),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        results[which] = json.loads(out.stdout.strip().splitlines()[-1])
        r = results[which]
        line = (
            f"{r['seconds']:7.2f} s  peak RSS while training {r['peak_mb']:6.0f} MB "
            f"(texts loaded: {r['texts_mb']:.0f} MB)  vocab {r['vocab']}"
        )
        print(f"  {which:8s} {line}")
    ratio = results["hf"]["seconds"] / results["seqcore"]["seconds"]
    print(f"seqcore trains {ratio:.1f}x faster than Hugging Face (target: no slower)")
    corpus.unlink()


if __name__ == "__main__":
    main()
