"""``seqcore demo`` stage 5: sequence labelling with first- and higher-order CRFs.

The task is generated from a known second-order model: each label mostly
follows from the label *two* steps back (``y_t = y_{t-2} + 1 mod L``, with
some noise), and each observation is a noisy Gaussian feature of its label,
so the observations alone are ambiguous. A first-order CRF (linear emissions,
label transitions) cannot represent the two-step rule; an order-3
:class:`seqcore.nn.HigherOrderCRF` whose unary and pairwise factors come
from sum-product networks (:class:`seqcore.nn.SPNFactor`, the construction
of Ratajczak et al., "Sum-Product Networks for Sequence Labeling") plus a
learned label-trigram table can. Both are trained by maximising the
conditional log-likelihood; the stage prints both training curves and the
held-out label accuracy of their Viterbi paths.
"""

from __future__ import annotations

import time

import torch
from torch import nn

from seqcore.nn import CRF, HigherOrderCRF, SPNFactor

LABELS, FEATURES, LENGTH = 4, 2, 24


def make_data(count: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Sequences of the second-order process: (features, labels)."""
    labels = torch.zeros(count, LENGTH, dtype=torch.long)
    labels[:, :2] = torch.randint(0, LABELS, (count, 2), generator=generator)
    for t in range(2, LENGTH):
        rule = (labels[:, t - 2] + 1) % LABELS
        noise = torch.randint(0, LABELS, (count,), generator=generator)
        keep = torch.rand(count, generator=generator) < 0.9
        labels[:, t] = torch.where(keep, rule, noise)
    centres = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    features = centres[labels] + 0.7 * torch.randn(count, LENGTH, FEATURES, generator=generator)
    return features, labels


class FirstOrder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emit = nn.Linear(FEATURES, LABELS)
        self.crf = CRF(LABELS)

    def nll(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return -self.crf.log_likelihood(self.emit(x), y).mean()

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tensor(self.crf.decode(self.emit(x)))


class SpnHigherOrder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.unary = SPNFactor(FEATURES, LABELS, order=1, seed=1)
        self.pairwise = SPNFactor(FEATURES, LABELS, order=2, seed=2)
        self.crf = HigherOrderCRF(LABELS, order=3)

    def factors(self, x: torch.Tensor) -> list[torch.Tensor | None]:
        return [self.unary(x), self.pairwise(x), None]

    def nll(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return -self.crf.log_likelihood(self.factors(x), y).mean()

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.tensor(self.crf.decode(self.factors(x)))


def train(
    model: nn.Module, data: tuple[torch.Tensor, torch.Tensor], steps: int, seed: int
) -> list[float]:
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    generator = torch.Generator().manual_seed(seed)
    x, y = data
    losses = []
    for _ in range(steps):
        batch = torch.randint(0, len(x), (32,), generator=generator)
        loss = model.nll(x[batch], y[batch])  # type: ignore[operator]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


def run_crf_stage(steps: int = 120, seed: int = 0) -> dict[str, list[float]]:
    """Trains both models, prints curves and accuracies; returns the curves."""
    generator = torch.Generator().manual_seed(seed)
    train_data, test_data = make_data(600, generator), make_data(200, generator)
    print(
        f"task: {LABELS} labels, each mostly the label two steps back plus one; "
        f"noisy {FEATURES}-d observations; {len(train_data[0])} training sequences of {LENGTH}"
    )
    torch.manual_seed(seed)
    models = {"first-order CRF": FirstOrder(), "SPN order-3 CRF": SpnHigherOrder()}
    curves, accuracy = {}, {}
    for name, model in models.items():
        start = time.perf_counter()
        curves[name] = train(model, train_data, steps, seed)
        took = time.perf_counter() - start
        predicted = model.decode(test_data[0])  # type: ignore[operator]
        accuracy[name] = float((predicted == test_data[1]).float().mean())
        print(f"{name}: trained {steps} steps in {took:.1f} s")
    print(f"{'step':>6} " + " ".join(f"{n:>18}" for n in curves) + "   (training NLL per sequence)")
    for step in range(0, steps, max(1, steps // 8)):
        print(f"{step + 1:>6} " + " ".join(f"{c[step]:>18.2f}" for c in curves.values()))
    print(f"{steps:>6} " + " ".join(f"{c[-1]:>18.2f}" for c in curves.values()))
    for name, value in accuracy.items():
        print(f"held-out label accuracy, {name}: {value:.1%}")
    return curves
