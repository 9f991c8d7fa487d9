"""Images for display: tensors in the playground's layouts to the numpy arrays ``st.image`` and plotly show.

One place for the conversions every page needs, so grey images stay (H, W) and colour ones (H, W, 3)
everywhere, and float images are clipped and rounded the same way.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["hwc", "float_images"]


def hwc(x: torch.Tensor) -> np.ndarray:
    """One uint8 image (C, H, W) -> numpy (H, W) for grey, (H, W, C) for colour."""
    a = x.permute(1, 2, 0).cpu().numpy()
    return a[:, :, 0] if a.shape[2] == 1 else a


def float_images(x: torch.Tensor) -> list[np.ndarray]:
    """A float batch (B, C, H, W) in [0, 1] -> uint8 numpy images, (H, W) grey or (H, W, C) colour."""
    u8 = x.detach().clamp(0, 1).mul(255).round().to(torch.uint8).cpu()  # (B, C, H, W)
    return [hwc(im) for im in u8]
