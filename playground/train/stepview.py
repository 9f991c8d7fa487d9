"""What one step saw: after "Step once" (``Controls.step_once``) the trainer reports the batch it just
trained on, as a ``batch`` event (its loss, and per image the true class, the prediction and its
probability) plus the augmented images as the network received them (denormalised, uint8), written
atomically to the run's ``batch.pt`` (the last stepped batch; events stay small)."""

from __future__ import annotations

from typing import Any

import torch

from ..files import atomic_write_bytes
from ..runs import Run

__all__ = ["BATCH_FILE", "SHOWN", "batch_event", "read_batch"]

BATCH_FILE = "batch.pt"
SHOWN = 16  # images of the batch shown


@torch.no_grad()
def batch_event(
    s, x: torch.Tensor, y: torch.Tensor, out: torch.Tensor, loss: torch.Tensor, step: int, epoch: int, run: Run | None
) -> dict[str, Any]:
    """The ``batch`` event of one trained step (``s``: the engine's Setup); saves the images with ``run``."""
    n = min(SHOWN, x.shape[0])
    ev: dict[str, Any] = {
        "kind": "batch",
        "step": step,
        "epoch": epoch,
        "loss": round(float(loss), 5),
        "batch_size": int(x.shape[0]),
        "shown": n,
    }
    if s.task.metric == "acc" and y.dim() == 1 and out.dim() == 2:
        probs = out.float().softmax(1)
        conf, pred = probs.max(1)
        ev.update(
            labels=y[:n].tolist(),
            preds=pred[:n].tolist(),
            confidence=[round(c, 3) for c in conf[:n].tolist()],
            batch_acc=round(float((pred == y).float().mean()), 4),
        )
    if run is not None and not s.p.precomputed and x.dim() == 4:
        images = ((x[:n].float() * s.p.std + s.p.mean).clamp(0, 1) * 255).round().to(torch.uint8).cpu().contiguous()
        atomic_write_bytes(run.dir / BATCH_FILE, lambda f: torch.save({"step": step, "images": images}, f))
        ev["images"] = BATCH_FILE
    return ev


def read_batch(run: Run, step: int | None = None) -> torch.Tensor | None:
    """The images (n, C, H, W) uint8 of the last stepped batch (of ``step`` when given), or None."""
    path = run.dir / BATCH_FILE
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError):
        return None
    if step is not None and state.get("step") != step:
        return None
    return state.get("images")
