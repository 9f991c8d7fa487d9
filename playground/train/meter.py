"""Running sums of a training loop, kept on the device so the loop syncs with the host once per log."""

from __future__ import annotations

import time

import torch

__all__ = ["Meter"]


class Meter:
    """Running sums of loss and the task's score, on the device (one host sync per log), and the
    time between logs with pauses, evaluation and checkpoints left out of the rate."""

    def __init__(self, device: torch.device) -> None:
        self.loss = torch.zeros((), device=device)  # since the last log
        self.score = torch.zeros((), device=device)
        self.ep_loss = torch.zeros((), device=device)  # since the epoch began
        self.ep_score = torch.zeros((), device=device)
        self.steps, self.ep_steps = 0, 0
        self.t0 = time.perf_counter()
        self.train_seconds, self.images = 0.0, 0  # the whole run, for the final rate

    def new_epoch(self) -> None:
        self.ep_loss.zero_()
        self.ep_score.zero_()
        self.ep_steps = 0
        self.restart()

    def restart(self) -> None:
        self.loss.zero_()
        self.score.zero_()
        self.steps, self.t0 = 0, time.perf_counter()

    def skip(self, seconds: float) -> None:
        self.t0 += seconds  # a pause does not count as training time

    def add(self, loss: torch.Tensor, score: torch.Tensor) -> None:
        self.loss += loss
        self.score += score
        self.ep_loss += loss
        self.ep_score += score
        self.steps += 1
        self.ep_steps += 1

    def due(self, log_every: int, log_seconds: float = 0.0) -> bool:
        """Time for a step event: ``log_every`` steps since the last, or ``log_seconds`` of training (so a
        slow model still draws a point a second)."""
        if self.steps >= log_every:
            return True
        return bool(self.steps and log_seconds and time.perf_counter() - self.t0 >= log_seconds)

    def read(self, batch_size: int) -> tuple[float, float, float]:
        """-> (mean loss, score sum, images/s) since the last read; the one sync point."""
        mean_loss = self.loss.item() / self.steps
        score = self.score.item()
        elapsed = time.perf_counter() - self.t0
        self.train_seconds += elapsed
        self.images += self.steps * batch_size
        return mean_loss, score, self.steps * batch_size / max(elapsed, 1e-9)
