"""Benchmark of seqcore's linear-chain CRF against pytorch-crf and torch-struct.

Run: ``python benches/crf.py`` (after ``bash scripts/test`` or ``maturin
develop --release``). CPU, one thread, float32, batch 32, length 128, 50
labels, random lengths (between half and all of 128), the same parameters
for every library. Prints medians and the ratios measured in this run.

* log-partition; NLL with gradients (forward + backward through autograd);
  Viterbi; 5-best Viterbi (seqcore only: against its own Viterbi); marginals.
* Higher order: order 3 with 26 labels against first order with 50 labels,
  same batch and lengths (seqcore both).
"""

from __future__ import annotations

import argparse

import torch
from _common import machine, median_seconds
from torch_struct import LinearChainCRF
from torchcrf import CRF as TorchCRF

import seqcore
from seqcore.nn import CRF, HigherOrderCRF

BATCH, LENGTH, LABELS = 32, 128, 50


def torch_struct_potentials(
    emissions: torch.Tensor, crf: TorchCRF, lengths: torch.Tensor
) -> torch.Tensor:
    """torch-struct's (batch, length - 1, to, from) edge potentials for the
    same model: emissions folded into the edges, start into the first."""
    edges = emissions[:, 1:, :, None] + crf.transitions.T[None, None]
    edges[:, 0] += (emissions[:, 0] + crf.start_transitions)[:, None, :]
    last = (lengths - 2).clamp(min=0)
    edges[torch.arange(len(lengths)), last] += crf.end_transitions[None, :, None]
    return edges


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    seqcore.set_num_threads(1)
    print(machine(f"torch {torch.__version__}, pytorch-crf 0.7.2, torch-struct 0.5"))
    generator = torch.Generator().manual_seed(0)
    emissions = torch.randn(BATCH, LENGTH, LABELS, generator=generator)
    lengths = torch.randint(LENGTH // 2, LENGTH + 1, (BATCH,), generator=generator)
    lengths[0] = LENGTH
    mask = torch.arange(LENGTH)[None, :] < lengths[:, None]
    tags = torch.randint(0, LABELS, (BATCH, LENGTH), generator=generator)

    theirs = TorchCRF(LABELS, batch_first=True)
    ours = CRF(LABELS)
    with torch.no_grad():
        ours.transitions.copy_(theirs.transitions)
        ours.start_transitions.copy_(theirs.start_transitions)
        ours.end_transitions.copy_(theirs.end_transitions)
    r = args.repeats

    def their_log_partition() -> object:
        with torch.no_grad():
            return theirs._compute_normalizer(emissions.transpose(0, 1), mask.T)

    def our_log_partition() -> object:
        with torch.no_grad():
            return ours.log_partition(emissions, mask)

    def their_nll_backward() -> None:
        e = emissions.clone().requires_grad_()
        (-theirs(e, tags, mask, reduction="sum")).backward()  # type: ignore[no-untyped-call]

    def our_nll_backward() -> None:
        e = emissions.clone().requires_grad_()
        (-ours.log_likelihood(e, tags, mask).sum()).backward()  # type: ignore[no-untyped-call]

    def their_viterbi() -> object:
        with torch.no_grad():
            return theirs.decode(emissions, mask)

    def our_viterbi() -> object:
        return ours.decode(emissions, mask)

    def our_nbest() -> object:
        return ours.decode(emissions, mask, nbest=5)

    def their_marginals() -> object:
        e = emissions.clone().requires_grad_()
        lz = theirs._compute_normalizer(e.transpose(0, 1), mask.T).sum()
        return torch.autograd.grad(lz, e)[0]

    def our_marginals() -> object:
        return ours.marginals(emissions, mask)

    struct_lengths = lengths.clone()

    def struct_log_partition() -> object:
        with torch.no_grad():
            edges = torch_struct_potentials(emissions, theirs, struct_lengths)
            return LinearChainCRF(edges, lengths=struct_lengths).partition

    rows = [
        ("log-partition", their_log_partition, our_log_partition, 30),
        ("NLL + gradients", their_nll_backward, our_nll_backward, 20),
        ("Viterbi", their_viterbi, our_viterbi, 30),
        ("marginals", their_marginals, our_marginals, None),
    ]
    print(f"\nbatch {BATCH}, length {LENGTH}, {LABELS} labels, float32, 1 thread (ms)")
    print(f"{'':18} {'pytorch-crf':>12} {'seqcore':>9} {'ratio':>8}   target")
    results = {}
    for name, theirs_fn, ours_fn, target in rows:
        t = median_seconds(theirs_fn, r)
        o = median_seconds(ours_fn, r)
        results[name] = o
        goal = f">= {target}x" if target else ""
        print(f"{name:18} {t * 1e3:12.2f} {o * 1e3:9.3f} {t / o:7.1f}x   {goal}")
    nbest = median_seconds(our_nbest, r)
    print(
        f"{'5-best':18} {'':>12} {nbest * 1e3:9.3f} {nbest / results['Viterbi']:7.1f}x"
        "   of seqcore's Viterbi (target <= 5x)"
    )
    print(
        f"marginals / (NLL + gradients): "
        f"{results['marginals'] / results['NLL + gradients']:.2f}x (target ~1x)"
    )
    s = median_seconds(struct_log_partition, r)
    print(
        f"torch-struct LinearChainCRF log-partition: {s * 1e3:.2f} ms "
        f"-> seqcore {s / results['log-partition']:.1f}x faster"
    )

    # Higher order: order 3 with 26 labels against first order with 50
    # labels, same batch and lengths, seqcore both. Like for like with the
    # first-order chain (input-dependent unary scores, learned tables
    # above them), then with more orders depending on the input (the
    # largest factor, (32, 128, 26^3), is 288 MB in float32).
    small = 26
    third = HigherOrderCRF(small, order=3)
    factors = [torch.randn(BATCH, LENGTH, small**n, generator=generator) for n in (1, 2, 3)]
    small_tags = torch.randint(0, small, (BATCH, LENGTH), generator=generator)
    cases = [
        ("unary factors, binary + ternary tables", [factors[0], None, None]),
        ("unary + binary factors, ternary table", [factors[0], factors[1], None]),
        ("factors of every order", factors),
    ]
    print(f"\nhigher order 3, {small} labels / first order, {LABELS} labels (target <= 3x)")
    for name, given in cases:
        h = median_seconds(lambda g=given: third.log_partition(g, mask), r)
        print(f"  {name:40} log-partition {h * 1e3:7.2f} ms = {h / results['log-partition']:5.1f}x")
    given = cases[0][1]

    def higher_nll_backward() -> None:
        unary = given[0].clone().requires_grad_()
        (-third.log_likelihood([unary, None, None], small_tags, mask).sum()).backward()

    h = median_seconds(higher_nll_backward, r)
    print(
        f"  {cases[0][0]:40} NLL + gradients {h * 1e3:5.2f} ms "
        f"= {h / results['NLL + gradients']:5.1f}x"
    )


if __name__ == "__main__":
    main()
