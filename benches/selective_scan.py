"""Benchmark of seqcore.scan.selective against the pure-torch reference.

Run: ``python benches/selective_scan.py``. float32, batch 1, dim 1536,
length 2048, N 16, input-dependent B and C, z and D given, softplus on: the
Mamba-130M-like setting of issue 3. One thread for both. The reference
follows mamba-ssm's ``selective_scan_ref``: the discretised tensors
``exp(delta A)`` and ``delta B u`` for all steps, then a loop over time.
"""

from __future__ import annotations

import argparse

import torch
from _common import median_seconds  # benches/ is on sys.path when run as a script

import seqcore


def selective_scan_reference(u, delta, A, B, C, D, z, delta_bias):  # type: ignore[no-untyped-def]
    """Pure-torch selective scan with selective_scan_ref's semantics (real A,
    B and C of shape (batch, N, length), softplus on)."""
    delta = torch.nn.functional.softplus(delta + delta_bias[..., None])
    delta_a = torch.exp(torch.einsum("bdl,dn->bdln", delta, A))
    delta_b_u = torch.einsum("bdl,bnl,bdl->bdln", delta, B, u)
    x = A.new_zeros((u.shape[0], u.shape[1], A.shape[1]))
    ys = []
    # unbind rather than [:, :, i] (selective_scan_ref indexes): the same
    # forward, but autograd then stacks once instead of building a
    # full-size zero gradient for every step, which made the reference's
    # backward take minutes.
    steps = zip(delta_a.unbind(2), delta_b_u.unbind(2), C.unbind(2), strict=True)
    for decay, drive, c in steps:
        x = decay * x + drive
        ys.append(torch.einsum("bdn,bn->bd", x, c))
    y = torch.stack(ys, dim=2)
    return (y + u * D[:, None]) * torch.nn.functional.silu(z)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--dim", type=int, default=1536)
    parser.add_argument("--length", type=int, default=2048)
    parser.add_argument("--states", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    seqcore.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    b, d, length, n = args.batch, args.dim, args.length, args.states
    u = torch.randn(b, d, length, generator=g)
    delta = torch.randn(b, d, length, generator=g) * 0.5 - 2
    A = -torch.exp(torch.randn(d, n, generator=g))
    B = torch.randn(b, n, length, generator=g)
    C = torch.randn(b, n, length, generator=g)
    D = torch.randn(d, generator=g)
    z = torch.randn(b, d, length, generator=g)
    bias = torch.randn(d, generator=g) * 0.1
    elements = b * d * length
    print(f"selective scan, float32, batch {b}, dim {d}, length {length}, N {n}, one thread")
    with torch.no_grad():
        ours = median_seconds(
            lambda: seqcore.scan.selective(u, delta, A, B, C, D, z, bias, delta_softplus=True),
            args.repeats,
        )
        ref = median_seconds(lambda: selective_scan_reference(u, delta, A, B, C, D, z, bias), 3)
    params = [t.clone().requires_grad_() for t in (u, delta, A, B, C, D, z, bias)]

    def ours_train() -> None:
        seqcore.scan.selective(*params, delta_softplus=True).sum().backward()

    def ref_train() -> None:
        selective_scan_reference(*params).sum().backward()

    print(f"forward: torch reference {ref * 1e3:.1f} ms, seqcore {ours * 1e3:.1f} ms", flush=True)
    ours_bwd = median_seconds(ours_train, args.repeats)
    ref_bwd = median_seconds(ref_train, 2)
    rows = [
        ("forward", ref, ours),
        ("forward + backward", ref_bwd, ours_bwd),
    ]
    print(f"{'pass':<20} {'torch ref ms':>13} {'seqcore ms':>11} {'speed-up':>9} {'M elem/s':>9}")
    for name, theirs, mine in rows:
        print(f"{name:<20} {theirs * 1e3:>13.1f} {mine * 1e3:>11.1f} {theirs / mine:>8.1f}x "
              f"{elements / mine / 1e6:>9.1f}")  # fmt: skip
    print("targets: forward >= 15x the torch reference, >= 50 M elements/s per core")


if __name__ == "__main__":
    main()
