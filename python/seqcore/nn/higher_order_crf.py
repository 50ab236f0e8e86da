"""``seqcore.nn.HigherOrderCRF``: linear-chain CRFs over label n-grams.

A labelling's score is the sum, over positions t and orders n = 1..order, of
the order-n factor of the n-gram of labels ending at t (``factors[n - 1]``,
shape (batch, length, L^n), produced by any network, e.g.
:class:`seqcore.nn.SPNFactor`), plus the module's own output-only tables
(``tables[n - 1]``, shape (L^n,), the same at every position). An n-gram
index is ``((y1 * L + y2) * L + ...)``, the oldest label first; entries of
n-grams that would start before the sequence are ignored. Order 2 is a
first-order chain. Inference is exact (forward-backward over the L^(N-1)
expanded states, in Rust); gradients reach the factors and the tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from seqcore import _core
from seqcore.nn import model_files
from seqcore.nn.crf import _checked_tags, _lengths_of


def _arrays(items: Sequence[torch.Tensor | None], dtype: torch.dtype) -> list[np.ndarray | None]:
    return [None if x is None else x.detach().to("cpu", dtype).contiguous().numpy() for x in items]


#: The most entries a learned table may have (2**32: 16 GiB of float32).
MAX_TABLE_ENTRIES = 2**32


class _NegLogLikelihood(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, spec: tuple[Any, ...], *tensors: torch.Tensor | None) -> torch.Tensor:
        order, labels, lengths, tags = spec
        factors, tables = list(tensors[:order]), list(tensors[order:])
        dtype = next(t for t in tensors if t is not None).dtype
        f, tb = _arrays(factors, dtype), _arrays(tables, dtype)
        ones = np.ones(len(lengths), dtype=np.float32 if dtype == torch.float32 else np.float64)
        nll, gf, gt = _core.hocrf_nll(order, labels, f, tb, lengths, tags, ones)
        ctx.spec, ctx.arrays, ctx.grads = spec, (f, tb), (gf, gt)
        ctx.present = [t is not None and t.requires_grad for t in tensors]
        return torch.from_numpy(nll)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
        if torch.is_grad_enabled():
            # create_graph=True: the gradient below is computed outside
            # autograd, so its own gradient would be silently missing.
            raise RuntimeError(
                "the CRF's gradient has no gradient of its own: double backward "
                "(create_graph=True through the CRF) is not supported"
            )
        order, labels, lengths, tags = ctx.spec
        gf, gt = ctx.grads
        weights = grad.detach().cpu().numpy()
        if len(weights) and not np.all(weights == weights[0]):
            f, tb = ctx.arrays
            w = weights.astype(next(a for a in f + tb if a is not None).dtype)
            _, gf, gt = _core.hocrf_nll(order, labels, f, tb, lengths, tags, w)
            scale = 1.0
        else:
            scale = float(weights[0]) if len(weights) else 0.0
        out: list[torch.Tensor | None] = []
        for wanted, g in zip(ctx.present, list(gf) + list(gt), strict=True):
            out.append(torch.from_numpy(g) * scale if wanted and g is not None else None)
        return (None, *out)


class HigherOrderCRF(model_files.SavedModel, nn.Module):
    """A linear-chain CRF of the given ``order`` (1..4) over ``num_labels``
    labels, with learned output-only tables for every order (set
    ``tables=False`` to score with the given factors alone)."""

    def __init__(
        self,
        num_labels: int,
        order: int,
        *,
        tables: bool = True,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        if isinstance(num_labels, bool) or not isinstance(num_labels, int) or num_labels < 1:
            raise ValueError(f"num_labels must be a positive int, got {num_labels!r}")
        if isinstance(order, bool) or not isinstance(order, int) or not 1 <= order <= 4:
            raise ValueError(f"order must be an int in 1..4, got {order!r}")
        if tables and num_labels**order > MAX_TABLE_ENTRIES:
            raise ValueError(
                f"a table of num_labels**order = {num_labels}**{order} entries is over the "
                f"{MAX_TABLE_ENTRIES} this module allocates; use fewer labels or a lower order"
            )
        self.num_labels, self.order = num_labels, order
        self.tables = nn.ParameterList(
            [nn.Parameter(torch.zeros(num_labels**n, dtype=dtype)) for n in range(1, order + 1)]
            if tables
            else []
        )
        self._saved_config = {
            "num_labels": num_labels, "order": order, "tables": tables,
            "dtype": str(dtype).removeprefix("torch."),
        }  # fmt: skip

    def _factors(self, factors: Sequence[torch.Tensor | None]) -> list[torch.Tensor | None]:
        if isinstance(factors, torch.Tensor) or not isinstance(factors, Sequence):
            raise TypeError(
                "factors must be a sequence with one (batch, length, L^n) tensor (or None) per "
                f"order n = 1, 2, ..., got {type(factors).__name__}"
            )
        if len(factors) > self.order:
            raise ValueError(f"{len(factors)} factor tensors given for order {self.order}")
        out = list(factors) + [None] * (self.order - len(factors))
        shape = None
        for n, f in enumerate(out, start=1):
            if f is None:
                continue
            if not isinstance(f, torch.Tensor) or f.dim() != 3 or f.shape[2] != self.num_labels**n:
                raise ValueError(
                    f"factors[{n - 1}] must have shape (batch, length, {self.num_labels**n}), "
                    f"got {tuple(getattr(f, 'shape', ()))}"
                )
            if f.dtype not in (torch.float32, torch.float64):
                raise TypeError(f"factors[{n - 1}] must be float32 or float64, got {f.dtype}")
            if shape is not None and f.shape[:2] != shape:
                raise ValueError(f"factors[{n - 1}] has (batch, length) {tuple(f.shape[:2])}, "
                                 f"the others {tuple(shape)}")  # fmt: skip
            shape = f.shape[:2]
        if shape is None:
            raise ValueError("give at least one factor tensor (its shape sets batch and length)")
        return out

    def _setup(
        self, factors: Sequence[torch.Tensor | None], mask: torch.Tensor | None
    ) -> tuple[list[torch.Tensor | None], list[torch.Tensor | None], np.ndarray, torch.dtype]:
        fs = self._factors(factors)
        first = next(f for f in fs if f is not None)
        batch, length = first.shape[:2]
        tables: list[torch.Tensor | None] = [t.to(first.dtype) for t in self.tables]
        tables += [None] * (self.order - len(tables))
        return fs, tables, _lengths_of(mask, batch, length), first.dtype

    def log_likelihood(
        self,
        factors: Sequence[torch.Tensor | None],
        tags: torch.Tensor,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Log-likelihood of ``tags`` (batch, length) per sequence; differentiable."""
        fs, tables, lengths, _ = self._setup(factors, mask)
        length = next(f for f in fs if f is not None).shape[1]
        tag_array = _checked_tags(tags, lengths, length, self.num_labels)
        spec = (self.order, self.num_labels, lengths, tag_array)
        nll = _NegLogLikelihood.apply(spec, *fs, *tables)
        return -nll  # type: ignore[no-any-return]

    def _plain(self, factors: Sequence[torch.Tensor | None], mask: torch.Tensor | None) -> tuple[
        int, int, list[np.ndarray | None], list[np.ndarray | None], np.ndarray
    ]:  # fmt: skip
        fs, tables, lengths, dtype = self._setup(factors, mask)
        return self.order, self.num_labels, _arrays(fs, dtype), _arrays(tables, dtype), lengths

    def log_partition(
        self, factors: Sequence[torch.Tensor | None], mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """log Z per sequence (not differentiable: use log_likelihood)."""
        return torch.from_numpy(_core.hocrf_log_partition(*self._plain(factors, mask)))

    def marginals(
        self, factors: Sequence[torch.Tensor | None], mask: torch.Tensor | None = None
    ) -> list[torch.Tensor | None]:
        """Per order whose factors were given: P(n-gram ending at t), (batch, length, L^n)."""
        out = _core.hocrf_marginals(*self._plain(factors, mask))
        return [None if m is None else torch.from_numpy(m) for m in out]

    def decode(
        self, factors: Sequence[torch.Tensor | None], mask: torch.Tensor | None = None,
        nbest: int = 1,
    ) -> list[list[int]] | list[list[tuple[list[int], float]]]:  # fmt: skip
        """The best labelling per sequence, or its ``nbest`` best with scores."""
        if isinstance(nbest, bool) or not isinstance(nbest, int) or nbest < 1:
            raise ValueError(f"nbest must be a positive int, got {nbest!r}")
        plain = self._plain(factors, mask)
        if nbest == 1:
            paths, _ = _core.hocrf_viterbi(*plain)
            return paths
        # Fewer come back when fewer exist: a huge nbest means "all of them".
        return _core.hocrf_nbest(*plain, min(nbest, 2**62))
