"""``seqcore.nn.CRF``: a linear-chain CRF whose inference runs in Rust.

Shapes (batch first): emissions (batch, length, num_labels), tags (batch,
length), mask (batch, length) of bools whose True entries form a prefix of
each row (variable lengths; a row of all False is an empty sequence). The
parameters are pytorch-crf's: ``transitions[i, j]`` scores label i followed
by label j, ``start_transitions`` and ``end_transitions`` the first and
last label. Constraints (see :func:`seqcore.crf.allowed_transitions`) are
applied as -inf scores in training and decoding alike.

NaN in the emissions of a sequence gives NaN for that sequence's results
(other sequences are unaffected). A sequence with no allowed path has
log-partition -inf, log-likelihood -inf, zero marginals and an empty path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from seqcore import _core
from seqcore.crf._constraints import allowed_transitions
from seqcore.nn import model_files


def _lengths_of(mask: torch.Tensor | None, batch: int, length: int) -> np.ndarray:
    """Per-row lengths from a prefix mask (ValueError for any other mask)."""
    if mask is None:
        return np.full(batch, length, dtype=np.int64)
    if tuple(mask.shape) != (batch, length):
        raise ValueError(
            f"mask must have shape (batch, length) = ({batch}, {length}), got {tuple(mask.shape)}"
        )
    m = mask.detach().to("cpu", torch.bool)
    lengths = m.sum(dim=1)
    prefix = torch.arange(length)[None, :] < lengths[:, None]
    if not torch.equal(prefix, m):
        row = int((prefix != m).any(dim=1).nonzero()[0, 0])
        raise ValueError(
            f"mask row {row} is not a prefix (True entries, then False ones): seqcore "
            "CRFs read each row as a sequence of its mask's length"
        )
    return lengths.numpy().astype(np.int64)


def _checked_tags(
    tags: torch.Tensor, lengths: np.ndarray, length: int, num_labels: int
) -> np.ndarray:
    """``tags`` as an int64 array, labels checked inside each sequence and
    padding past each length (e.g. -100) set to 0, which is never read."""
    batch = len(lengths)
    if not isinstance(tags, torch.Tensor) or tuple(tags.shape) != (batch, length):
        raise ValueError(
            f"tags must be a tensor of shape ({batch}, {length}), "
            f"got {getattr(tags, 'shape', type(tags).__name__)}"
        )
    if tags.dtype.is_floating_point or tags.dtype == torch.bool:
        raise TypeError(f"tags must hold integer labels, got {tags.dtype}")
    array: np.ndarray = tags.detach().to("cpu", torch.int64).numpy().copy()
    inside = np.arange(length)[None, :] < lengths[:, None]
    bad = inside & ((array < 0) | (array >= num_labels))
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise IndexError(
            f"tag {array[row, col]} at sequence {row}, position {col} is out of range "
            f"for {num_labels} labels"
        )
    array[~inside] = 0
    return array


def _check_emissions(emissions: torch.Tensor, num_labels: int) -> None:
    if not isinstance(emissions, torch.Tensor):
        raise TypeError(f"emissions must be a torch tensor, got {type(emissions).__name__}")
    if emissions.dim() != 3 or emissions.shape[2] != num_labels:
        raise ValueError(
            f"emissions must have shape (batch, length, {num_labels}), got {tuple(emissions.shape)}"
        )
    if emissions.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"emissions must be float32 or float64, got {emissions.dtype}")


def _np(t: torch.Tensor, dtype: torch.dtype) -> np.ndarray:
    return t.detach().to("cpu", dtype).contiguous().numpy()


class _NegLogLikelihood(torch.autograd.Function):
    """Per-sequence NLL; its gradient comes from the Rust forward-backward."""

    @staticmethod
    def forward(
        ctx: Any,
        emissions: torch.Tensor,
        transitions: torch.Tensor,
        start: torch.Tensor,
        end: torch.Tensor,
        tags: np.ndarray,
        lengths: np.ndarray,
    ) -> torch.Tensor:
        dtype = emissions.dtype
        e, t, s, n = (_np(x, dtype) for x in (emissions, transitions, start, end))
        args = (e, t, s, n)
        nll, *grads = _core.crf_nll(e, t, s, n, lengths, tags, None)
        ctx.save_for_backward(*[torch.from_numpy(g) for g in grads])
        ctx.inputs = (args, lengths, tags)
        return torch.from_numpy(nll).to(emissions.device)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
        if torch.is_grad_enabled():
            # create_graph=True: the gradient below is computed outside
            # autograd, so its own gradient would be silently missing.
            raise RuntimeError(
                "the CRF's gradient has no gradient of its own: double backward "
                "(create_graph=True through the CRF) is not supported"
            )
        g_emissions, g_transitions, g_start, g_end = ctx.saved_tensors
        weights = grad.detach().to("cpu", g_emissions.dtype)
        if len(weights) == 0 or bool(torch.all(weights == weights[0])):
            # One weight for every sequence (a sum or a mean of the NLLs):
            # scale the gradients forward computed.
            w = weights[0] if len(weights) else weights.new_zeros(())
            out = [g_emissions * w, g_transitions * w, g_start * w, g_end * w]
        else:
            # Different weights: the summed parameter gradients need them
            # inside the sum, so run the forward-backward again with them.
            (e, t, s, n), lengths, tags = ctx.inputs
            _, *grads = _core.crf_nll(e, t, s, n, lengths, tags, weights.numpy())
            out = [torch.from_numpy(g) for g in grads]
        return (*(g.to(grad.device) for g in out), None, None)


class CRF(model_files.SavedModel, nn.Module):
    """A linear-chain CRF over ``num_labels`` labels.

    ``constraints``: a tagging scheme name with ``labels`` (``"BIO"``,
    ``"IOB1"``, ``"BIOUL"``, ``"BMES"``), or masks ``(transitions (L, L),
    start (L), end (L))`` of what is allowed.
    """

    _transitions_allowed: torch.Tensor
    _start_allowed: torch.Tensor
    _end_allowed: torch.Tensor

    def __init__(
        self,
        num_labels: int,
        *,
        constraints: str | tuple[Any, Any, Any] | None = None,
        labels: Sequence[str] | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        if isinstance(num_labels, bool) or not isinstance(num_labels, int) or num_labels < 1:
            raise ValueError(f"num_labels must be a positive int, got {num_labels!r}")
        self.num_labels = num_labels
        self.labels = list(labels) if labels is not None else None
        if self.labels is not None and len(self.labels) != num_labels:
            raise ValueError(f"{len(self.labels)} labels given for num_labels={num_labels}")
        self.transitions = nn.Parameter(torch.empty(num_labels, num_labels, dtype=dtype))
        self.start_transitions = nn.Parameter(torch.empty(num_labels, dtype=dtype))
        self.end_transitions = nn.Parameter(torch.empty(num_labels, dtype=dtype))
        nn.init.uniform_(self.transitions, -0.1, 0.1)
        nn.init.uniform_(self.start_transitions, -0.1, 0.1)
        nn.init.uniform_(self.end_transitions, -0.1, 0.1)
        masks = self._masks(constraints)
        self.constraint_scheme = constraints if isinstance(constraints, str) else None
        for name, allowed in zip(("transitions", "start", "end"), masks, strict=True):
            self.register_buffer(f"_{name}_allowed", torch.as_tensor(allowed, dtype=torch.bool))
        # Mask constraints travel in the weights (buffers); a scheme by name.
        self._saved_config = {
            "num_labels": num_labels, "labels": self.labels,
            "constraints": self.constraint_scheme, "dtype": str(dtype).removeprefix("torch."),
        }  # fmt: skip

    def _masks(self, constraints: object) -> tuple[Any, Any, Any]:
        size = self.num_labels
        if constraints is None:
            return np.ones((size, size), bool), np.ones(size, bool), np.ones(size, bool)
        if isinstance(constraints, str):
            if self.labels is None:
                raise ValueError("a constraint scheme needs the label names (labels=...)")
            return allowed_transitions(constraints, self.labels)
        if not (isinstance(constraints, tuple) and len(constraints) == 3):
            raise TypeError(
                "constraints must be a scheme name or (transitions, start, end) masks, "
                f"got {type(constraints).__name__}"
            )
        masks = tuple(np.asarray(m, dtype=bool) for m in constraints)
        shapes = ((size, size), (size,), (size,))
        if tuple(m.shape for m in masks) != shapes:
            raise ValueError(
                f"constraint masks must have shapes {shapes}, got {tuple(m.shape for m in masks)}"
            )
        return masks[0], masks[1], masks[2]

    def _scores(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The parameters with disallowed entries at -inf (differentiable)."""
        neg = torch.tensor(float("-inf"), dtype=dtype, device=self.transitions.device)
        t = torch.where(self._transitions_allowed, self.transitions.to(dtype), neg)
        s = torch.where(self._start_allowed, self.start_transitions.to(dtype), neg)
        e = torch.where(self._end_allowed, self.end_transitions.to(dtype), neg)
        return t, s, e

    def _plain(
        self, emissions: torch.Tensor, mask: torch.Tensor | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        _check_emissions(emissions, self.num_labels)
        batch, length, _ = emissions.shape
        lengths = _lengths_of(mask, batch, length)
        dtype = emissions.dtype
        t, s, e = (_np(x, dtype) for x in self._scores(dtype))
        return _np(emissions, dtype), t, s, e, lengths

    def log_likelihood(
        self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Log-likelihood of ``tags`` per sequence, (batch,); differentiable
        with respect to the emissions and the parameters."""
        _check_emissions(emissions, self.num_labels)
        batch, length, _ = emissions.shape
        lengths = _lengths_of(mask, batch, length)
        tag_array = _checked_tags(tags, lengths, length, self.num_labels)
        t, s, e = self._scores(emissions.dtype)
        nll = _NegLogLikelihood.apply(emissions, t, s, e, tag_array, lengths)
        return -nll  # type: ignore[no-any-return]

    def forward(
        self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Summed log-likelihood (pytorch-crf's default reduction)."""
        return self.log_likelihood(emissions, tags, mask).sum()

    def log_partition(
        self, emissions: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """log Z per sequence, (batch,) (not differentiable: use log_likelihood)."""
        out = _core.crf_log_partition(*self._plain(emissions, mask))
        return torch.from_numpy(out).to(emissions.device)

    def marginals(
        self, emissions: torch.Tensor, mask: torch.Tensor | None = None, *, edges: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """P(label at each position), (batch, length, num_labels), zeros past
        each length; with ``edges``, also P(labels i then j at positions
        t - 1, t) at ``[b, t - 1, i, j]``, (batch, length - 1, L, L)."""
        if not isinstance(edges, bool):
            raise TypeError(f"edges must be a bool, got {type(edges).__name__}")
        out = _core.crf_marginals(*self._plain(emissions, mask), edges)
        if edges:
            nodes, pairs = out
            return torch.from_numpy(nodes), torch.from_numpy(pairs)
        return torch.from_numpy(out)

    def decode(
        self, emissions: torch.Tensor, mask: torch.Tensor | None = None, nbest: int = 1
    ) -> list[list[int]] | list[list[tuple[list[int], float]]]:
        """The best label path per sequence (``nbest=1``), or its ``nbest``
        best paths with their scores, best first."""
        if isinstance(nbest, bool) or not isinstance(nbest, int) or nbest < 1:
            raise ValueError(f"nbest must be a positive int, got {nbest!r}")
        plain = self._plain(emissions, mask)
        if nbest == 1:
            paths, _ = _core.crf_viterbi(*plain)
            return paths
        # Fewer paths than asked come back when fewer exist, so a huge
        # nbest is the same as any count above the number of paths.
        return _core.crf_nbest(*plain, min(nbest, 2**62))
