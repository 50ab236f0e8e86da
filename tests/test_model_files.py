"""Saving and loading CRF, higher-order CRF and SPN models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import seqcore
from seqcore.nn import CRF, SPN, HigherOrderCRF, SPNFactor
from seqcore.nn.model_files import weights_equal


def _randomised(module: torch.nn.Module) -> torch.nn.Module:
    torch.manual_seed(0)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn_like(p))
    return module


@pytest.mark.parametrize(
    "make, run",
    [
        (
            lambda: CRF(3, constraints="BIO", labels=["O", "B-X", "I-X"]),
            lambda m, x: m.log_partition(x[:, :, :3]),
        ),
        (lambda: CRF(3, dtype=torch.float64), lambda m, x: m.marginals(x[:, :, :3].double())),
        (lambda: HigherOrderCRF(3, 3), lambda m, x: m.log_partition([x[:, :, :3]])),
        (lambda: SPN(4, leaf="gaussian", num_outputs=2), lambda m, x: m(x[:, 0, :4])),
        (lambda: SPNFactor(2, 3, order=2), lambda m, x: m(x[:, :, :2])),
    ],
)
def test_round_trip_is_bit_identical(tmp_path: Path, make: object, run: object) -> None:
    model = _randomised(make())  # type: ignore[operator]
    x = torch.randn(2, 5, 9)
    model.save(tmp_path / "m")
    again = type(model).load(tmp_path / "m")
    assert weights_equal(model, again)
    assert torch.equal(run(model, x), run(again, x))  # type: ignore[operator]
    if isinstance(model, CRF):
        assert again.labels == model.labels and again.constraint_scheme == model.constraint_scheme


def test_malformed_and_mismatched_files(tmp_path: Path) -> None:
    CRF(3).save(tmp_path / "crf")
    with pytest.raises(seqcore.ModelFormatError, match="holds a CRF, not a SPN"):
        SPN.load(tmp_path / "crf")
    with pytest.raises(seqcore.ModelFormatError, match="missing"):
        CRF.load(tmp_path / "nothing")
    meta = tmp_path / "crf" / "model.json"
    header = json.loads(meta.read_text())
    meta.write_text(json.dumps({**header, "format_version": 99}))
    with pytest.raises(seqcore.ModelFormatError, match="format_version 99"):
        CRF.load(tmp_path / "crf")
    meta.write_text(json.dumps({**header, "config": {**header["config"], "num_labels": 4}}))
    with pytest.raises(seqcore.ModelFormatError, match="does not fit"):
        CRF.load(tmp_path / "crf")
    meta.write_text("{not json")
    with pytest.raises(seqcore.ModelFormatError, match="not JSON"):
        CRF.load(tmp_path / "crf")
    meta.write_text(json.dumps(header))
    (tmp_path / "crf" / "weights.safetensors").write_bytes(b"\x00" * 5)
    with pytest.raises(seqcore.ModelFormatError, match="not a safetensors"):
        CRF.load(tmp_path / "crf")
    meta.write_text(json.dumps({**header, "config": {"bogus": 1}}))
    with pytest.raises(seqcore.ModelFormatError, match="bad config"):
        CRF.load(tmp_path / "crf")
