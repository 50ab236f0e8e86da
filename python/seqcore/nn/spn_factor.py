"""SPN factors for higher-order CRFs (Ratajczak, Tschiatschek and Pernkopf,
"Sum-Product Networks for Sequence Labeling").

At each position the factor of label n-gram ``(y_{t-n+1}, ..., y_t)`` is the
log-value of one root of an SPN over the window of the ``n`` input segments
``x_{t-n+1}, ..., x_t``. The ``(batch, length, L**n)`` tensor this returns is
the factor tensor a higher-order CRF takes; training the two by maximising the
conditional log-likelihood of the labels is the paper's SPN-based CRF.
"""

from __future__ import annotations

import torch
from torch import nn

from seqcore.nn import model_files
from seqcore.nn.spn import SPN
from seqcore.nn.spn_structure import RegionGraph


class SPNFactor(model_files.SavedModel, nn.Module):
    """Label n-gram factors from an SPN over a window of ``order`` input segments.

    .. code-block:: text

        window_t = concat(x_{t-n+1}, ..., x_t)                   n * num_features variables
        factor[b, t, g] = log S_g(window_t)                      g = ((y_1 L + y_2) L + ...) + y_n

    where ``S_g`` is the SPN's root ``g`` and ``(y_1, ..., y_n)`` are the
    labels at ``t-n+1, ..., t`` (``y_n`` is the label at ``t`` and varies
    fastest). Variable ``j * num_features + f`` of the SPN is feature ``f`` of
    the ``j``-th segment of the window (``j = 0`` the oldest).

    Positions ``t < n - 1``: the window reaches before the sequence start.
    The missing segments are marginalised exactly (their leaves contribute
    log 1), so the factor is the SPN's marginal density of the segments that
    exist. The row is still a full ``L**n`` table: the label slots before the
    start are left to the CRF's convention for them (a fixed start label, or
    ignoring those entries). ``order = 1`` gives per-position unary scores.

    Args:
        num_features: ``F``, features per input segment.
        num_labels: ``L``.
        order: ``n >= 1``, the n-gram length.
        leaf: ``"gaussian"`` (default; real features) or ``"bernoulli"`` (0/1).
        region_graph: structure over ``n * F`` variables; default a RAT-SPN
            graph of ``depth`` (default ``min(3, ceil(log2(n * F)))``) and
            ``num_repetitions`` seeded by ``seed``.
        num_sums, num_input_distributions: as in :class:`~seqcore.nn.spn.SPN`.

    Shapes:
        ``x``: ``(batch, length, num_features)`` float32/float64 →
        ``(batch, length, num_labels ** order)`` in ``x``'s dtype. ``batch = 0``
        and ``length = 0`` give empty outputs.

    Example:
        >>> factor = SPNFactor(num_features=3, num_labels=2, order=2)
        >>> factor(torch.randn(4, 7, 3)).shape
        torch.Size([4, 7, 4])
    """

    def __init__(
        self,
        num_features: int,
        num_labels: int,
        order: int = 2,
        *,
        leaf: str = "gaussian",
        region_graph: RegionGraph | None = None,
        depth: int | None = None,
        num_repetitions: int = 2,
        num_sums: int = 4,
        num_input_distributions: int = 4,
        seed: int = 0,
    ) -> None:
        super().__init__()
        for arg, value in (
            ("num_features", num_features),
            ("num_labels", num_labels),
            ("order", order),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{arg} must be a positive int, got {value!r}")
        self.num_features, self.num_labels, self.order = num_features, num_labels, order
        num_vars = order * num_features
        if depth is None:
            depth = min(3, (num_vars - 1).bit_length())
        self.spn = SPN(
            num_vars,
            leaf=leaf,
            region_graph=region_graph,
            num_sums=num_sums,
            num_input_distributions=num_input_distributions,
            num_outputs=num_labels**order,
            depth=depth,
            num_repetitions=num_repetitions,
            seed=seed,
        )
        self._saved_config = {
            "num_features": num_features, "num_labels": num_labels, "order": order,
            "leaf": leaf, "region_graph": self.spn.region_graph.to_dict(),
            "num_sums": num_sums, "num_input_distributions": num_input_distributions,
        }  # fmt: skip

    @property
    def num_ngrams(self) -> int:
        """``num_labels ** order``, the size of the last output dimension."""
        return int(self.num_labels**self.order)

    def windows(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The SPN inputs: ``(batch * length, n * F)`` windows and their
        marginalisation mask (``None`` for ``order = 1``), True on the
        segments before the start, which hold zeros."""
        batch, length, features = x.shape
        n = self.order
        if length == 0:  # unfold refuses a window longer than the padded input
            empty = x.new_zeros(0, n * features)
            return empty, (None if n == 1 else torch.zeros_like(empty, dtype=torch.bool))
        padded = torch.cat([x.new_zeros(batch, n - 1, features), x], dim=1)
        # unfold: (batch, length, F, n) windows of n consecutive segments.
        windows = padded.unfold(1, n, 1).transpose(-1, -2).reshape(batch * length, n * features)
        if n == 1:
            return windows, None
        position = torch.arange(length, device=x.device)[:, None]
        segment = torch.arange(n, device=x.device)[None, :]
        missing = segment < (n - 1 - position)  # (length, n): time t - n + 1 + j < 0
        mask = missing.repeat_interleave(features, dim=1)
        return windows, mask.expand(batch, -1, -1).reshape(batch * length, n * features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, length, num_features)`` → ``(batch, length, num_labels ** order)``."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        if not x.is_floating_point():
            raise TypeError(f"x must have a floating dtype, got {x.dtype}")
        if x.dim() != 3 or x.shape[-1] != self.num_features:
            raise ValueError(
                f"x must have shape (batch, length, num_features={self.num_features}), "
                f"got {tuple(x.shape)}"
            )
        batch, length, _ = x.shape
        windows, mask = self.windows(x)
        scores: torch.Tensor = self.spn(windows, marginalize=mask)
        return scores.reshape(batch, length, self.num_ngrams)

    def extra_repr(self) -> str:
        return f"num_features={self.num_features}, num_labels={self.num_labels}, order={self.order}"


__all__ = ["SPNFactor"]
