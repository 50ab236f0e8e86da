"""Saving and loading seqcore's CRF and SPN models.

A model is a folder with two files:

* ``model.json``: ``{"format": "seqcore.model", "format_version": 1,
  "class": "CRF", "config": {...}}``, the constructor arguments (label
  names, constraint scheme, region graph structure) as JSON;
* ``weights.safetensors``: every parameter and buffer (never pickle).

``load`` rebuilds the module from ``model.json`` and loads the weights
strictly, so a loaded model gives bit-identical outputs; anything missing,
malformed or mismatched raises :class:`seqcore.ModelFormatError` naming the
file and the problem.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import nn

from seqcore.errors import ModelFormatError

if TYPE_CHECKING:
    from typing_extensions import Self

FORMAT = "seqcore.model"
FORMAT_VERSION = 1
MAX_JSON_BYTES = 64 << 20


def _classes() -> dict[str, type[nn.Module]]:
    from seqcore.nn.crf import CRF
    from seqcore.nn.higher_order_crf import HigherOrderCRF
    from seqcore.nn.spn import SPN
    from seqcore.nn.spn_factor import SPNFactor

    return {c.__name__: c for c in (CRF, HigherOrderCRF, SPN, SPNFactor)}


def _config_of(module: nn.Module) -> dict[str, Any]:
    config = getattr(module, "_saved_config", None)
    if config is None:
        raise TypeError(f"{type(module).__name__} cannot be saved by seqcore")
    return dict(config)


def save(module: nn.Module, directory: str | Path) -> None:
    """Writes ``module`` (a CRF, HigherOrderCRF, SPN or SPNFactor) to ``directory``."""
    from safetensors.torch import save_file

    if type(module).__name__ not in _classes():
        raise TypeError(f"save takes a seqcore CRF or SPN model, got {type(module).__name__}")
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "class": type(module).__name__,
        "config": _config_of(module),
    }
    (folder / "model.json").write_text(json.dumps(header, indent=1))
    state = {k: v.detach().contiguous() for k, v in module.state_dict().items()}
    save_file(state, str(folder / "weights.safetensors"))


def load(directory: str | Path, expected: type[nn.Module] | None = None) -> nn.Module:
    """The model saved in ``directory`` (of class ``expected`` when given)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(directory)
    meta, weights = folder / "model.json", folder / "weights.safetensors"
    for path in (meta, weights):
        if not path.is_file():
            raise ModelFormatError(f"{path}: missing (a saved model has model.json and weights)")
    if meta.stat().st_size > MAX_JSON_BYTES:
        raise ModelFormatError(f"{meta}: over the {MAX_JSON_BYTES}-byte limit")
    try:
        header = json.loads(meta.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelFormatError(f"{meta}: not JSON ({error})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelFormatError(f'{meta}: "format" must be {FORMAT!r}')
    if header.get("format_version") != FORMAT_VERSION:
        raise ModelFormatError(
            f"{meta}: format_version {header.get('format_version')!r} is not supported "
            f"(this seqcore reads {FORMAT_VERSION})"
        )
    classes = _classes()
    name, config = header.get("class"), header.get("config")
    if name not in classes or not isinstance(config, dict):
        raise ModelFormatError(f'{meta}: "class" must be one of {sorted(classes)} with a config')
    cls = classes[name]
    if expected is not None and cls is not expected:
        raise ModelFormatError(f"{meta}: holds a {name}, not a {expected.__name__}")
    try:
        module: nn.Module = cls._from_saved_config(config)  # type: ignore[attr-defined]
    except (TypeError, ValueError, KeyError) as error:
        raise ModelFormatError(f"{meta}: bad config for {name}: {error}") from None
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as error:
        raise ModelFormatError(f"{weights}: not a safetensors file ({error})") from None
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as error:
        first = str(error).splitlines()[0]
        raise ModelFormatError(
            f"{weights}: does not fit the {name} in model.json: {first}"
        ) from None
    return module


def weights_equal(a: nn.Module, b: nn.Module) -> bool:
    """Whether two modules hold bit-identical parameters and buffers."""
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


class SavedModel:
    """``save``/``load`` for a module that records its constructor arguments
    (JSON values) in ``_saved_config``: a region graph as its dict, a dtype
    by name."""

    _saved_config: dict[str, Any]

    def save(self, directory: str | Path) -> None:
        """Writes the model (description as JSON, weights as safetensors)."""
        save(cast(nn.Module, self), directory)

    @classmethod
    def load(cls, directory: str | Path) -> Self:
        """The model saved in ``directory``; bit-identical outputs."""
        return cast("Self", load(directory, cast(type[nn.Module], cls)))

    @classmethod
    def _from_saved_config(cls, config: dict[str, Any]) -> Self:
        from seqcore.nn.spn_structure import RegionGraph

        config = dict(config)
        if "dtype" in config:
            config["dtype"] = getattr(torch, config["dtype"])
        if "region_graph" in config:
            config["region_graph"] = RegionGraph.from_dict(config["region_graph"])
        return cls(**config)
