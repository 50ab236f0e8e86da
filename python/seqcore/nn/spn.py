"""Sum-product networks (SPNs) as torch modules, evaluated in log space.

The structure comes from a :class:`~seqcore.nn.spn_structure.RegionGraph`
(random RAT-SPN, Peharz et al. 2019, or explicit), and evaluation is
vectorised over nodes the way Einsum Networks are (Peharz et al. 2020): one
op computes every leaf, and each layer of the region graph is one gather-and-sum
for its products and one log-einsum-exp for its sums. Nodes never become
Python objects, so a forward pass is a handful of tensor ops per layer.

:class:`SPNFactor` (in :mod:`seqcore.nn.spn_factor`) builds the n-gram factor
tensor of a higher-order CRF from such an SPN.
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from seqcore.nn import model_files
from seqcore.nn.spn_structure import RegionGraph

LEAVES = ("gaussian", "bernoulli")

# Fixed slots at the start of the node buffer (see SPN._compile).
_LOG_ONE, _LOG_ZERO, _LEAF_START = 0, 1, 2


class MPEResult(NamedTuple):
    """What :meth:`SPN.mpe` returns.

    Attributes:
        assignment: ``(batch, num_outputs, num_vars)``: the evidence where
            observed, the completion chosen for each output's root elsewhere.
        log_value: ``(batch, num_outputs)``: the max-product value of that
            completion, i.e. the log-probability of the best induced tree.
    """

    assignment: torch.Tensor
    log_value: torch.Tensor


class _Step(NamedTuple):
    # One layer of the region graph: the products of its partitions (absent
    # when the layer is the sum over a leaf root), then its regions' sums.
    products: str | None  # buffer name of (n_products, max_arity) buffer indices
    sums: str  # buffer name of (n_regions, max_inputs) buffer indices, padded with _LOG_ZERO
    num_out: int  # sums per region: num_sums, or num_outputs at the root


class SPN(model_files.SavedModel, nn.Module):
    """A sum-product network over ``num_vars`` variables with ``num_outputs`` roots.

    .. code-block:: text

        leaf region r, component k:  log p_rk(x) = sum over v in scope(r) of log p_vrk(x_v)
        partition (r1, .., ra):      one product per (k1, .., ka):  sum_j  log value(r_j, k_j)
        region r, sum s:             logsumexp_i ( log w_rsi + log value(input i) )
        root output c:               a sum node of the root region (C of them)

    Every sum's weights are ``log_softmax`` of free logits, so each output is a
    normalised distribution (a density for Gaussian leaves): ``exp(forward(x))``
    integrates to 1 over ``x`` for each output.

    Args:
        num_vars: ``D``, the number of variables.
        leaf: ``"gaussian"`` (learnable means and log-stds) or ``"bernoulli"``
            (learnable logits; ``x`` holds 0/1).
        region_graph: the structure; default ``RegionGraph.random(num_vars,
            depth, num_repetitions, seed)``.
        num_sums: sum nodes per internal, non-root region (``S``).
        num_input_distributions: factorised distributions per leaf region (``K``).
        num_outputs: roots ``C`` (e.g. one per class).
        depth, num_repetitions, seed: RAT-SPN parameters, used without
            ``region_graph``.

    Shapes:
        ``forward``: ``x`` ``(batch, num_vars)`` float32/float64 → ``(batch,
        num_outputs)`` log-likelihoods, in ``x``'s dtype (the parameters are
        cast to it).

    Example:
        >>> spn = SPN(4, leaf="bernoulli", depth=2, num_repetitions=2, num_outputs=3)
        >>> x = torch.tensor([[0.0, 1.0, 1.0, 0.0]])
        >>> spn(x).shape
        torch.Size([1, 3])
        >>> all_x = torch.tensor(list(itertools.product([0.0, 1.0], repeat=4)))
        >>> torch.allclose(spn(all_x).exp().sum(0), torch.ones(3))
        True
    """

    def __init__(
        self,
        num_vars: int,
        leaf: str = "gaussian",
        region_graph: RegionGraph | None = None,
        *,
        num_sums: int = 4,
        num_input_distributions: int = 4,
        num_outputs: int = 1,
        depth: int = 2,
        num_repetitions: int = 1,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if leaf not in LEAVES:
            raise ValueError(f"leaf must be one of {LEAVES}, got {leaf!r}")
        for arg, value in (
            ("num_sums", num_sums),
            ("num_input_distributions", num_input_distributions),
            ("num_outputs", num_outputs),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{arg} must be a positive int, got {value!r}")
        if region_graph is None:
            region_graph = RegionGraph.random(num_vars, depth, num_repetitions, seed)
        elif not isinstance(region_graph, RegionGraph):
            raise TypeError(f"region_graph must be a RegionGraph, got {type(region_graph)}")
        if region_graph.num_vars != num_vars:
            raise ValueError(
                f"region_graph is over {region_graph.num_vars} variables, num_vars is {num_vars}"
            )
        self.num_vars, self.leaf, self.region_graph = num_vars, leaf, region_graph
        self.num_sums, self.num_outputs = num_sums, num_outputs
        self.num_input_distributions = num_input_distributions
        self._saved_config = {
            "num_vars": num_vars, "leaf": leaf, "region_graph": region_graph.to_dict(),
            "num_sums": num_sums, "num_input_distributions": num_input_distributions,
            "num_outputs": num_outputs,
        }  # fmt: skip
        self._compile()

    # ------------------------------------------------------------ construction

    def _size(self, region: int) -> int:
        graph = self.region_graph
        if region == 0:
            return self.num_outputs
        return self.num_input_distributions if graph.is_leaf(region) else self.num_sums

    def _compile(self) -> None:
        """Turns the region graph into index tensors, one set per layer.

        All node values of one input live in a flat buffer (batch, N):
        index 0 holds log 1 (the padding of products with fewer children than
        the layer's widest), index 1 holds log 0 (the padding of sums with
        fewer inputs than the layer's widest: it must not raise the max that
        :func:`_log_einsum_exp` shifts by), then the leaf components, then
        each layer's products and sums in order. A layer only reads indices
        written by earlier layers, so appending to the buffer is all the
        bookkeeping.
        """
        graph, K = self.region_graph, self.num_input_distributions
        num_regions = len(graph.regions)
        self._leaf_regions = [r for r in range(num_regions) if graph.is_leaf(r)]
        slot_region: list[int] = []
        slot_var: list[int] = []
        self._slot_start: dict[int, int] = {}
        for pos, region in enumerate(self._leaf_regions):
            self._slot_start[region] = len(slot_var)
            for v in graph.regions[region]:
                slot_region.append(pos)
                slot_var.append(v)
        self.register_buffer("_slot_region", torch.tensor(slot_region), persistent=False)
        self.register_buffer("_slot_var", torch.tensor(slot_var), persistent=False)

        # Layer of a region: 0 for leaves, 1 + the deepest child otherwise. The
        # root is above every other region, so it is alone in the last layer.
        layer: dict[int, int] = {}

        def layer_of(region: int) -> int:
            if region not in layer:
                kids = [c for children in graph.partitions_of(region) for c in children]
                layer[region] = 1 + max(map(layer_of, kids)) if kids else 0
            return layer[region]

        for region in range(num_regions):
            layer_of(region)
        base = {r: _LEAF_START + pos * K for pos, r in enumerate(self._leaf_regions)}
        size = _LEAF_START + len(self._leaf_regions) * K
        # Which inputs each region's sums mix (buffer indices, in the order
        # documented by :meth:`log_weights`).
        self._inputs: dict[int, list[int]] = {}
        self._step_row: dict[int, tuple[int, int]] = {}  # region -> (step, row)
        steps: list[_Step] = []
        for level in range(1, max(layer.values()) + 1):
            regions = [r for r in range(num_regions) if layer[r] == level]
            products: list[list[int]] = []
            for region in regions:
                self._inputs[region] = []
                for children in graph.partitions_of(region):
                    ranges = [range(base[c], base[c] + self._size(c)) for c in children]
                    for combo in itertools.product(*ranges):
                        self._inputs[region].append(size + len(products))
                        products.append(list(combo))
            size += len(products)
            num_out = self._size(regions[0])
            for i, region in enumerate(regions):
                base[region] = size + i * num_out
            size += len(regions) * num_out
            steps.append(self._add_step(len(steps), products, regions, num_out))
        if not steps:  # a leaf root: one sum over its K components
            self._inputs[0] = list(range(_LEAF_START, _LEAF_START + K))
            base[0] = size
            size += self.num_outputs
            steps.append(self._add_step(0, [], [0], self.num_outputs))
        self._steps = steps
        self._buffer_size = size

        shape = (len(slot_var), K)
        if self.leaf == "gaussian":
            self.means = nn.Parameter(torch.randn(shape))
            self.log_stds = nn.Parameter(torch.zeros(shape))
        else:
            self.logits = nn.Parameter(torch.randn(shape))

    def _add_step(
        self, index: int, products: list[list[int]], regions: list[int], num_out: int
    ) -> _Step:
        products_name = None
        if products:
            arity = max(map(len, products))
            padded = [p + [_LOG_ONE] * (arity - len(p)) for p in products]
            products_name = f"_products_{index}"
            self.register_buffer(products_name, torch.tensor(padded), persistent=False)
        width = max(len(self._inputs[r]) for r in regions)
        sums = [self._inputs[r] + [_LOG_ZERO] * (width - len(self._inputs[r])) for r in regions]
        for row, region in enumerate(regions):
            self._step_row[region] = (index, row)
        sums_name = f"_sums_{index}"
        self.register_buffer(sums_name, torch.tensor(sums), persistent=False)
        # Uniform-ish random mixtures; padding gets -inf in _log_weights.
        logits = nn.Parameter(torch.rand(len(regions), num_out, width))
        self.register_parameter(f"sum_logits_{index}", logits)
        return _Step(products_name, sums_name, num_out)

    # ------------------------------------------------------------ evaluation

    def _log_weights(self, index: int, dtype: torch.dtype) -> torch.Tensor:
        """Normalised log weights ``(n_regions, num_out, max_inputs)`` of a layer."""
        logits = self._tensor(f"sum_logits_{index}").to(dtype)
        valid = self._tensor(self._steps[index].sums) != _LOG_ZERO
        return torch.log_softmax(logits.masked_fill(~valid[:, None, :], -math.inf), dim=-1)

    def _leaf_log_densities(
        self, x: torch.Tensor, hidden: torch.Tensor | None, mode: str
    ) -> torch.Tensor:
        """``(batch, n_slots, K)`` log-densities of every leaf at its variable.

        Slots whose variable is ``hidden`` give 0 (``mode="marginal"``: the
        integral of a density) or the density's maximum (``mode="max"``).
        """
        var = self._tensor("_slot_var")
        xs = x[:, var]
        if hidden is not None:
            hidden = hidden[:, var]
            # Hidden values may be NaN; zeroing them keeps NaN out of the gradient.
            xs = xs.masked_fill(hidden, 0.0)
        xs = xs[:, :, None]
        if self.leaf == "gaussian":
            mean, log_std = self.means.to(x.dtype), self.log_stds.to(x.dtype)
            peak = -log_std - 0.5 * math.log(2 * math.pi)
            logp = peak - 0.5 * ((xs - mean) * torch.exp(-log_std)) ** 2
        else:
            logit = self.logits.to(x.dtype)
            peak = -F.softplus(-logit.abs())
            logp = xs * F.logsigmoid(logit) + (1 - xs) * F.logsigmoid(-logit)
        if hidden is None:
            return logp
        fill = torch.zeros_like(logp) if mode == "marginal" else peak.expand_as(logp)
        return torch.where(hidden[:, :, None], fill, logp)

    def _leaf_buffer(self, logp: torch.Tensor) -> torch.Tensor:
        # Leaf region components are products over their scope: one index_add
        # sums the slots of each region.
        batch = logp.shape[0]
        regions = logp.new_zeros(batch, len(self._leaf_regions), self.num_input_distributions)
        regions = regions.index_add(1, self._tensor("_slot_region"), logp)
        log_one, log_zero = logp.new_zeros(batch, 1), logp.new_full((batch, 1), -math.inf)
        return torch.cat([log_one, log_zero, regions.flatten(1)], dim=1)

    def forward(self, x: torch.Tensor, marginalize: torch.Tensor | None = None) -> torch.Tensor:
        """Log-likelihood of each output: ``(batch, num_vars)`` → ``(batch, num_outputs)``.

        Args:
            x: values, ``(batch, num_vars)`` floating.
            marginalize: optional bool mask ``(num_vars,)`` or ``(batch,
                num_vars)``; True variables are integrated out exactly (their
                leaves give log 1), whatever ``x`` holds there (NaN included).
        """
        x = self._check_x(x)
        hidden = self._check_mask(marginalize, x, "marginalize")
        buffer = self._leaf_buffer(self._leaf_log_densities(x, hidden, "marginal"))
        out = buffer
        for index, step in enumerate(self._steps):
            if step.products is not None:
                products = buffer[:, self._tensor(step.products)].sum(-1)
                buffer = torch.cat([buffer, products], dim=1)
            sums = self._tensor(step.sums)
            out = _log_einsum_exp(buffer[:, sums], self._log_weights(index, x.dtype))
            buffer = torch.cat([buffer, out.flatten(1)], dim=1)
        return out.reshape(x.shape[0], self.num_outputs)

    @torch.no_grad()
    def mpe(
        self, x: torch.Tensor | None = None, evidence_mask: torch.Tensor | None = None
    ) -> MPEResult:
        """Most probable explanation under max-product semantics, per output.

        An upward pass with every sum replaced by a max (and every unobserved
        leaf by its maximum), then a top-down pass that follows each max's
        winner and completes unobserved variables with the modes of the
        leaves reached (Gaussian: the mean; Bernoulli: 1 if p > 1/2 else 0).
        The result maximises the probability of an *induced tree* (one child
        per sum), the standard SPN "MPE". It is the exact MPE of the
        distribution when the SPN is selective (at most one child of each sum
        is non-zero for any input); otherwise it can differ, since a sum's
        value adds several trees. ``log_value`` is the max-product value.

        Args:
            x: ``(batch, num_vars)`` evidence; ``None`` means no evidence and a
                batch of one (unless ``evidence_mask`` gives the batch size).
            evidence_mask: bool ``(num_vars,)`` or ``(batch, num_vars)``, True
                where ``x`` is observed; default: the entries of ``x`` that are
                not NaN.

        Returns:
            :class:`MPEResult` with ``assignment`` ``(batch, num_outputs,
            num_vars)`` and ``log_value`` ``(batch, num_outputs)``.
        """
        x, observed = self._mpe_inputs(x, evidence_mask)
        batch, dtype = x.shape[0], x.dtype
        buffer = self._leaf_buffer(self._leaf_log_densities(x, ~observed, "max"))
        winners: list[torch.Tensor] = []
        for index, step in enumerate(self._steps):
            if step.products is not None:
                products = buffer[:, self._tensor(step.products)].sum(-1)
                buffer = torch.cat([buffer, products], dim=1)
            sums = self._tensor(step.sums)
            scores = buffer[:, sums][:, :, None, :] + self._log_weights(index, dtype)
            best, arg = scores.max(dim=-1)  # (batch, n_regions, num_out)
            # The buffer index of each sum's winning input.
            winners.append(torch.gather(sums.expand(batch, -1, -1), 2, arg).flatten(1))
            buffer = torch.cat([buffer, best.flatten(1)], dim=1)
        log_value = buffer[:, -self.num_outputs :]

        # Top-down: active[b, c, i] > 0 when node i is in output c's tree.
        C, N = self.num_outputs, self._buffer_size
        active = x.new_zeros(batch, C, N)
        roots = torch.arange(N - C, N, device=x.device)
        active[:, torch.arange(C, device=x.device), roots] = 1.0
        end = N
        for step, winner in zip(reversed(self._steps), reversed(winners), strict=True):
            start = end - winner.shape[1]
            chosen = active[:, :, start:end].clone()  # no aliasing with the write
            active.scatter_add_(2, winner[:, None, :].expand(-1, C, -1), chosen)
            end = start
            if step.products is not None:
                children = self._tensor(step.products)
                start = end - children.shape[0]
                chosen = active[:, :, start:end, None].expand(-1, -1, -1, children.shape[1])
                chosen = chosen.clone()
                flat = children.flatten()[None, None, :].expand(batch, C, -1)
                active.scatter_add_(2, flat, chosen.flatten(2))
                end = start
        K = self.num_input_distributions
        leaves = slice(_LEAF_START, _LEAF_START + len(self._leaf_regions) * K)
        leaf_active = (active[:, :, leaves] > 0).to(dtype)
        leaf_active = leaf_active.reshape(batch, C, len(self._leaf_regions), K)[
            :, :, self._tensor("_slot_region")
        ]
        contribution = (leaf_active * self._leaf_modes(dtype)).sum(-1)
        completion = x.new_zeros(batch, C, self.num_vars)
        completion.index_add_(2, self._tensor("_slot_var"), contribution)
        assignment = torch.where(observed[:, None, :], x[:, None, :], completion)
        return MPEResult(assignment, log_value)

    def _tensor(self, name: str) -> torch.Tensor:
        # getattr rather than get_parameter: torch.func.functional_call swaps
        # parameters for plain tensors, which get_parameter refuses.
        value = getattr(self, name)
        assert isinstance(value, torch.Tensor)
        return value

    def _leaf_modes(self, dtype: torch.dtype) -> torch.Tensor:
        if self.leaf == "gaussian":
            return self.means.to(dtype)
        return (self.logits > 0).to(dtype)

    # ------------------------------------------------------------ inspection

    def log_weights(self, region: int = 0) -> torch.Tensor:
        """The normalised log weights of ``region``'s sums, ``(num_out, num_inputs)``.

        Inputs are the products of the region's partitions in the order of
        ``region_graph.partitions_of(region)``; within a partition, one per
        combination of the children's nodes, row-major (the first child varies
        slowest). A leaf root mixes its ``K`` components directly.
        """
        if region not in self._step_row:
            raise ValueError(f"region {region} is a leaf region; it has no sums")
        index, row = self._step_row[region]
        weights = self._log_weights(index, self._tensor(f"sum_logits_{index}").dtype)
        return weights[row, :, : len(self._inputs[region])]

    def leaf_parameters(self, region: int) -> dict[str, torch.Tensor]:
        """Parameters of a leaf region's ``K`` components, ``(len(scope), K)`` each.

        Rows follow the region's (sorted) scope. Gaussian: ``means``,
        ``log_stds``; Bernoulli: ``logits``.
        """
        if region not in self._slot_start:
            raise ValueError(f"region {region} is not a leaf region")
        start = self._slot_start[region]
        rows = slice(start, start + len(self.region_graph.regions[region]))
        if self.leaf == "gaussian":
            return {"means": self.means[rows], "log_stds": self.log_stds[rows]}
        return {"logits": self.logits[rows]}

    def extra_repr(self) -> str:
        return (
            f"num_vars={self.num_vars}, leaf={self.leaf!r}, num_sums={self.num_sums}, "
            f"num_input_distributions={self.num_input_distributions}, "
            f"num_outputs={self.num_outputs}, {self.region_graph!r}"
        )

    # ------------------------------------------------------------ checks

    def _check_x(self, x: object) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        if not x.is_floating_point():
            raise TypeError(f"x must have a floating dtype, got {x.dtype}")
        if x.dim() != 2 or x.shape[1] != self.num_vars:
            raise ValueError(
                f"x must have shape (batch, num_vars={self.num_vars}), got {tuple(x.shape)}"
            )
        return x

    def _check_mask(self, mask: object, x: torch.Tensor, name: str) -> torch.Tensor | None:
        if mask is None:
            return None
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
            raise TypeError(f"{name} must be a bool tensor")
        if mask.shape not in ((self.num_vars,), (x.shape[0], self.num_vars)):
            raise ValueError(
                f"{name} must have shape (num_vars,) or (batch, num_vars) = "
                f"({x.shape[0]}, {self.num_vars}), got {tuple(mask.shape)}"
            )
        return mask.to(x.device).expand(x.shape[0], self.num_vars)

    def _mpe_inputs(
        self, x: torch.Tensor | None, evidence_mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if x is None:
            if evidence_mask is not None and bool(evidence_mask.any()):
                raise ValueError("evidence_mask marks observed variables but x is None")
            batch = (
                1 if evidence_mask is None or evidence_mask.dim() == 1 else evidence_mask.shape[0]
            )
            x = self._tensor("sum_logits_0").new_zeros(batch, self.num_vars)
            return x, torch.zeros_like(x, dtype=torch.bool)
        x = self._check_x(x)
        if evidence_mask is None:
            return x, ~torch.isnan(x)
        observed = self._check_mask(evidence_mask, x, "evidence_mask")
        assert observed is not None
        return x, observed


def _log_einsum_exp(children: torch.Tensor, log_weights: torch.Tensor) -> torch.Tensor:
    """``log(sum_i exp(log_w[r, o, i] + children[b, r, i]))``, ``(batch, n_regions, num_out)``.

    Einsum Networks' trick: shift each region's children by their max, mix in
    linear space with one batched matrix product, shift back. It is a
    logsumexp over weighted children; only children more than ~87 (float32) /
    ~700 (float64) nats below the best one underflow, and those do not change
    the result. A region whose children are all -inf gives -inf and a zero
    gradient (the guard keeps 0 * inf out of the backward pass).
    """
    shift = children.detach().amax(dim=-1, keepdim=True)
    shift = torch.where(torch.isfinite(shift), shift, torch.zeros_like(shift))
    mixed = torch.einsum("bri,roi->bro", torch.exp(children - shift), torch.exp(log_weights))
    # Test for zero rather than positivity so that NaN stays NaN.
    zero = mixed == 0
    safe = torch.where(zero, torch.ones_like(mixed), mixed)
    return torch.where(zero, torch.full_like(mixed, -math.inf), shift + torch.log(safe))


__all__ = ["SPN", "MPEResult", "RegionGraph"]
