"""torch custom ops (``torch.ops.seqcore.*``) behind seqcore's functions.

Each op is registered with ``torch.library.custom_op``, with a fake
(meta) implementation and an autograd formula, so it works with autograd,
``torch.compile`` and ``torch.library.opcheck``. The CPU kernels call the
Rust core without copying contiguous tensors.

Importing this module needs torch.
"""

from seqcore._torch import require_torch

require_torch("seqcore.ops")

from seqcore.ops.damped_ema import damped_ema, damped_ema_backward  # noqa: E402
from seqcore.ops.gateloop import gateloop, gateloop_backward  # noqa: E402
from seqcore.ops.linear_scan import linear_scan, linear_scan_backward  # noqa: E402
from seqcore.ops.selective_scan import selective_scan, selective_scan_backward  # noqa: E402
from seqcore.ops.ssm_kernel import ssm_kernel, ssm_kernel_backward  # noqa: E402

__all__ = [
    "damped_ema",
    "damped_ema_backward",
    "gateloop",
    "gateloop_backward",
    "linear_scan",
    "linear_scan_backward",
    "selective_scan",
    "selective_scan_backward",
    "ssm_kernel",
    "ssm_kernel_backward",
]
