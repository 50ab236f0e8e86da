"""Stop strings: which (row, token) candidates would complete one.

transformers' beam search checks its stopping criteria on every candidate,
so a candidate whose text completes a stop string finishes its beam exactly
as an EOS token would; greedy search ends the row. To do the same without
decoding every candidate, the tokens are indexed once by what their bytes
start with: a candidate token ``t`` appended to a row whose text ends with
``P`` completes stop string ``s = P + Q`` when ``t``'s bytes start with
``Q``, or when they contain ``s`` whole. Per step and row that is one look-up
per prefix ``P`` of ``s`` the row's text ends with.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt


class StopStrings:
    """Finds the candidates that complete any of ``stop_strings``."""

    def __init__(self, stop_strings: Sequence[str], token_bytes: Sequence[bytes]) -> None:
        if isinstance(stop_strings, str):
            raise TypeError("stop_strings must be a list of strings, not one string")
        self.stops = [s.encode("utf-8") for s in stop_strings]
        if any(not s for s in self.stops):
            raise ValueError("stop strings must not be empty")
        # keep[i]: bytes of a row's text to remember, the longest stop minus one.
        self.keep = max((len(s) for s in self.stops), default=1) - 1
        self.token_bytes = list(token_bytes)
        # For each stop s and each non-empty suffix Q of s: the tokens whose
        # bytes start with Q, plus (Q == s) the tokens containing s anywhere.
        self.completing: dict[tuple[int, int], npt.NDArray[np.int64]] = {}
        for index, stop in enumerate(self.stops):
            for cut in range(len(stop)):
                rest = stop[cut:]
                ids = [
                    t
                    for t, b in enumerate(self.token_bytes)
                    if b.startswith(rest) or (cut == 0 and stop in b)
                ]
                self.completing[(index, cut)] = np.array(ids, dtype=np.int64)

    def finishers(
        self, tails: Sequence[bytes]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(rows, tokens): every candidate that completes a stop string, for
        rows whose texts end with ``tails`` (index = row of the step's input)."""
        rows: list[npt.NDArray[np.int64]] = []
        tokens: list[npt.NDArray[np.int64]] = []
        for row, tail in enumerate(tails):
            for index, stop in enumerate(self.stops):
                for cut in range(len(stop)):
                    if cut == 0 or tail.endswith(stop[:cut]):
                        ids = self.completing[(index, cut)]
                        if len(ids):
                            tokens.append(ids)
                            rows.append(np.full(len(ids), row, dtype=np.int64))
        if not rows:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        return np.concatenate(rows), np.concatenate(tokens)

    def tail_of(self, tokens: Sequence[int]) -> bytes:
        """The part of ``tokens``' text a row must remember."""
        text = b"".join(self.token_bytes[t] for t in tokens[-max(self.keep, 1) :])
        return self._last(text)

    def _last(self, text: bytes) -> bytes:
        """The last ``keep`` bytes of ``text`` (all of it when shorter)."""
        return text[max(len(text) - self.keep, 0) :] if self.keep else b""

    def advance(
        self, tails: list[bytes], parents: Sequence[int], tokens: Sequence[int]
    ) -> list[bytes]:
        """The tails of the next step's rows."""
        out = []
        for parent, token in zip(parents, tokens, strict=True):
            out.append(self._last(tails[parent] + self.token_bytes[token]))
        return out


def token_bytes_of(tokenizer: object, vocab_size: int) -> list[bytes]:
    """Each id's bytes, from a seqcore Tokenizer (exact bytes) or any tokenizer
    with ``decode(ids)`` (its text, UTF-8 encoded)."""
    decode_bytes: Callable[..., bytes] | None = getattr(tokenizer, "decode_bytes", None)
    out = []
    for token in range(vocab_size):
        try:
            if decode_bytes is not None:
                out.append(decode_bytes([token]))
            else:
                out.append(str(tokenizer.decode([token])).encode("utf-8"))  # type: ignore[attr-defined]
        except (IndexError, ValueError, KeyError):
            out.append(b"")  # an id the tokenizer does not have
    return out
