"""torch modules built on seqcore's kernels (needs torch).

* :class:`LinearRecurrence` — gated diagonal recurrence with input-dependent gates.
* :class:`LRU` — Linear Recurrent Unit (Orvieto et al. 2023).
* :class:`S4D` — diagonal state space layer (Gu et al. 2022), ZOH, S4D-Lin init.
* :class:`MegaEMA` — Mega's damped multi-dimensional EMA (Ma et al. 2022).
* :class:`SelectiveSSM` — the Mamba mixer (Gu & Dao 2023), optionally bidirectional.
* :class:`GateLoop` — GateLoop's data-controlled matrix-state recurrence (Katsch 2023).

* :class:`CRF` — linear-chain CRF (exact inference in Rust): log-likelihood with
  gradients, marginals, Viterbi and n-best, tagging-scheme constraints.
* :class:`HigherOrderCRF` — CRFs over label n-grams (order up to 4) whose factors
  any network produces (e.g. :class:`SPNFactor`).
* :class:`SPN`, :class:`SPNFactor`, :class:`RegionGraph` — sum-product networks
  (RAT-SPN structure, EiNet-style layers) and SPN n-gram factors for higher-order CRFs.

* :func:`init_multiword_embeddings` — rows for multi-word tokens (Fast Vocabulary Transfer).

The modules take and return ``(batch, time, d_model)`` tensors.
"""

from seqcore._torch import require_torch

require_torch("seqcore.nn")

from seqcore.nn.crf import CRF  # noqa: E402
from seqcore.nn.gateloop import GateLoop  # noqa: E402
from seqcore.nn.higher_order_crf import HigherOrderCRF  # noqa: E402
from seqcore.nn.linear_recurrence import LinearRecurrence  # noqa: E402
from seqcore.nn.lru import LRU  # noqa: E402
from seqcore.nn.mega_ema import MegaEMA  # noqa: E402
from seqcore.nn.multiword_embeddings import init_multiword_embeddings  # noqa: E402
from seqcore.nn.s4d import S4D  # noqa: E402
from seqcore.nn.selective_ssm import SelectiveSSM  # noqa: E402
from seqcore.nn.spn import SPN, MPEResult  # noqa: E402
from seqcore.nn.spn_factor import SPNFactor  # noqa: E402
from seqcore.nn.spn_structure import RegionGraph  # noqa: E402

__all__ = [
    "CRF",
    "LRU",
    "S4D",
    "SPN",
    "GateLoop",
    "HigherOrderCRF",
    "LinearRecurrence",
    "MPEResult",
    "MegaEMA",
    "RegionGraph",
    "SPNFactor",
    "SelectiveSSM",
    "init_multiword_embeddings",
]
