"""Linear recurrences along the time axis.

Each function takes numpy arrays and returns numpy arrays, or takes torch
tensors and returns torch tensors with autograd (through the custom ops in
:mod:`seqcore.ops`).

Layout: channel-last ``(batch, time, dim)`` unless a function says otherwise.
"""

from seqcore.scan._linear import linear

__all__ = ["linear"]
