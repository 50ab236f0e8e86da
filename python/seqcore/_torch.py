"""Access to torch for the parts of seqcore that need it.

``import seqcore`` works with numpy alone. ``seqcore.nn`` and ``seqcore.ops``
need torch; importing them without it raises an ImportError that says what
to install.
"""

from __future__ import annotations

import sys
from typing import Any

INSTALL_HINT = "Install it with `pip install 'seqcore-rs[torch]'` (or `pip install torch`)."


def require_torch(feature: str) -> Any:
    """Imports and returns torch, or raises ImportError naming ``feature``."""
    try:
        import torch
    except ImportError as error:
        raise ImportError(
            f"{feature} needs PyTorch, which is not installed. {INSTALL_HINT}"
        ) from error
    return torch


def is_tensor(value: object) -> bool:
    """True for a torch.Tensor, without importing torch if nobody has."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)
