"""Linear recurrences along the time axis.

Each function takes numpy arrays and returns numpy arrays, or takes torch
tensors and returns torch tensors with autograd (through the custom ops in
:mod:`seqcore.ops`).

Layout: channel-last ``(batch, time, dim)`` unless a function says otherwise.
"""

from seqcore.scan._ema import ema
from seqcore.scan._gateloop import gateloop
from seqcore.scan._linear import linear, linear_bidirectional
from seqcore.scan._selective import selective
from seqcore.scan._selective_bidirectional import selective_bidirectional
from seqcore.scan._ssm_kernel import ssm_kernel

__all__ = [
    "ema",
    "gateloop",
    "linear",
    "linear_bidirectional",
    "selective",
    "selective_bidirectional",
    "ssm_kernel",
]
