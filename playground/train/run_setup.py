"""A run's training state, built from its config on ``plan.prepare``'s data and model: ``Setup``
(the task, optimiser, schedule, the generator of every random draw, the probes, the step counts,
the best validation epoch kept), its checkpoints and their restore, settings changed while it
trains, and each epoch's order of the training images (``epoch_order``). The loop that uses it is
``engine.py``."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import torch

from ..config import RunConfig
from ..device import device_label
from ..models.layers import use_generator
from ..runs import Run
from .optim import build_optimizer, build_schedule
from .plan import prepare, step_counts
from .prepared import Prepared
from .probes import build_probes
from .tasks import build_task

__all__ = ["Setup", "epoch_order", "setup"]


@dataclass
class Setup:
    """What one run trains with, built from its config: the prepared data and model, the task, the
    optimiser and schedule, the generator of every random draw, the probes, and the step counts."""

    config: RunConfig
    p: Prepared
    task: Any
    opt: torch.optim.Optimizer
    sched: Any
    gen: torch.Generator
    probes: list
    steps_per_epoch: int
    total_steps: int
    n_epochs: int
    batch_size: int  # the one it trains with: the config's, or the auto rule's (``batch_size_for``)
    # With a validation split: the epoch with the lowest validation loss so far (epoch, val_loss, model state).
    best: dict[str, Any] | None = None

    def validate(self) -> dict[str, Any]:
        """The validation split's figures (``val_loss``, ``val_acc`` ...), or {} without one."""
        if self.p.val_x is None:
            return {}
        ev = self.task.evaluate(self.p.validation_view())
        return {
            "val_" + k[5:]: round(v, 5) for k, v in ev.items() if k.startswith("test_") and isinstance(v, (int, float))
        }

    def keep_if_best(self, ev: dict[str, Any]) -> None:
        """Keep the model of an epoch whose validation loss is the lowest so far (the course saves model.pt
        whenever it does not increase) and mark its event ``val_best``."""
        if "val_loss" not in ev or ev.get("partial"):
            return
        if self.best is None or ev["val_loss"] <= self.best["val_loss"]:
            state = {k: v.detach().clone() for k, v in self.p.model.state_dict().items()}
            self.best = {"epoch": ev["epoch"] + 1, "val_loss": ev["val_loss"], "model": state}
            ev["val_best"] = True

    def use_best(self) -> dict[str, Any]:
        """Load the kept best-validation weights into the model -> the final event's fields about them."""
        if self.best is None:
            return {}
        self.p.model.load_state_dict(self.best["model"])
        return {"best_epoch": self.best["epoch"], "best_val_loss": self.best["val_loss"]}

    def probe_fields(self, hook: str, *args: int) -> dict[str, Any]:
        """What the probes add to an event (``hook``: on_start, on_log or on_epoch)."""
        out: dict[str, Any] = {}
        for probe in self.probes:
            out.update(getattr(probe, hook)(*args) or {})
        return out

    def start_event(self, run: Run | None) -> dict[str, Any]:
        p, model = self.p, self.p.model
        return {
            "kind": "start",
            "run_id": run.run_id if run else None,
            "device": device_label(p.device),
            "precision": "bf16" if p.autocast_dtype == torch.bfloat16 else "fp32",
            **({"threads": torch.get_num_threads()} if p.device.type == "cpu" else {}),
            "dataset": p.data.summary(),
            "task": self.config.train.task,
            "train_images": len(p.train_y),
            **({"val_images": len(p.val_y)} if p.val_y is not None else {}),
            "parameters": sum(q.numel() for q in model.parameters()),
            "trainable_parameters": sum(q.numel() for q in model.parameters() if q.requires_grad),
            # which parts train (a transfer model's unfrozen blocks, then its new head)
            **(
                {"trains": [*blocks(), "new head"]}
                if callable(blocks := getattr(model, "trainable_blocks", None))
                else {}
            ),
            "batch_size": self.batch_size,
            "steps_per_epoch": self.steps_per_epoch,
            "total_steps": self.total_steps,
            "epochs": self.config.train.epochs,
            **self.probe_fields("on_start"),
            "started_at": round(time.time(), 3),
        }

    def resumable_state(
        self, epochs_done: int, step: int, t: float, within: tuple[int, torch.Tensor] | None = None
    ) -> dict[str, Any]:
        """The checkpoint at the end of ``epochs_done`` epochs, or ``within`` one: (steps of the epoch
        done, the generator's state when the epoch drew its order), so a resume replays the same order."""
        state = {
            "model": self.p.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(),
            "generator": self.gen.get_state(),
            "epoch": epochs_done,
            "epochs_done": epochs_done,
            "step": step,
            "t": t,
            "config": self.config.to_dict(),
        }
        if self.best is not None:
            state["best"] = self.best
        if within is not None:
            state["in_epoch"], state["epoch_generator"] = within
        return state

    def final_state(self, epoch: int, step: int, epochs_done: int) -> dict[str, Any]:
        """What a model file needs to be used without the data set (exports, the inspection page).
        mean/std: the normalisation the model's input really had (identity for a model that normalises itself)."""
        p = self.p
        data = {
            "shape": list(p.data.shape),
            "classes": list(p.data.classes),
            "mean": p.mean.flatten().tolist(),
            "std": p.std.flatten().tolist(),
        }
        return {
            "model": p.model.state_dict(),
            "config": self.config.to_dict(),
            "step": step,
            "epoch": epoch,
            "epochs_done": epochs_done,
            "data": data,
        }

    def apply_change(self, change: dict[str, float]) -> dict[str, float]:
        """Apply settings changed while training -> what was applied. A new learning rate rescales the
        schedule (its peak, start and end too), so it goes on from the new value with the same shape."""
        out: dict[str, float] = {}
        if "lr" in change:
            current = self.sched.get_last_lr()[0] or self.opt.param_groups[0]["lr"]
            scale = change["lr"] / current if current > 0 else 1.0
            for g in self.opt.param_groups:
                for key in ("lr", "initial_lr", "max_lr", "min_lr"):
                    if key in g:
                        g[key] *= scale
            self.sched.base_lrs = [b * scale for b in self.sched.base_lrs]
            self.sched._last_lr = [g["lr"] for g in self.opt.param_groups]
            out["lr"] = self.opt.param_groups[0]["lr"]
        for g in self.opt.param_groups:
            if "momentum" in change and "momentum" in g:
                g["momentum"] = out["momentum"] = change["momentum"]
            elif "momentum" in change and "betas" in g:  # Adam's momentum is its first beta
                g["betas"] = (change["momentum"], g["betas"][1])
                out["momentum"] = change["momentum"]
            if "weight_decay" in change and "weight_decay" in g:
                g["weight_decay"] = out["weight_decay"] = change["weight_decay"]
        return out

    def restore(self, state: dict[str, Any]) -> tuple[int, int, str | None]:
        """Load a checkpoint's training state; -> (epoch, step, note for the resumed event). A checkpoint
        saved within an epoch (``in_epoch``) continues that epoch (``epoch_order``)."""
        self.p.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])
        epoch, step = int(state["epoch"]), int(state["step"])
        self.best = state.get("best")
        try:
            self.gen.set_state(state["generator"].cpu())
            return epoch, step, None
        except RuntimeError:  # written on another device type (a GPU run resumed on a CPU)
            self.gen.manual_seed(self.config.train.seed + epoch)
            return epoch, step, "checkpoint from another device type: shuffling and augmentation draws were re-seeded"


def setup(config: RunConfig, run: Run | None = None) -> Setup:
    p = prepare(config, run.dir.parent if run is not None else None)
    task = build_task(config)
    task.check(p)
    t, o, model = config.train, config.optim, p.model
    bs, steps_per_epoch, total_steps = step_counts(config, len(p.train_y))
    # A model may split its parameters into groups (a pretrained backbone at a lower rate than
    # its new head); frozen parameters (requires_grad False) never reach the optimiser.
    groups = (
        param_groups(o.lr)
        if callable(param_groups := getattr(model, "param_groups", None))
        else [q for q in model.parameters() if q.requires_grad]
    )
    opt = build_optimizer(o.name, groups, lr=o.lr, weight_decay=o.weight_decay, **dict(o.params))
    sched = build_schedule(
        o.schedule, opt, total_steps=total_steps, steps_per_epoch=steps_per_epoch, **dict(o.schedule_params)
    )
    gen = torch.Generator(device=p.device).manual_seed(t.seed)
    use_generator(model, gen)  # dropout draws from the run's generator too: a seed repeats the whole run
    return Setup(
        config=config,
        p=p,
        task=task,
        opt=opt,
        sched=sched,
        gen=gen,
        probes=build_probes(t.probes, p, run),
        steps_per_epoch=steps_per_epoch,
        total_steps=total_steps,
        n_epochs=math.ceil(total_steps / steps_per_epoch),
        batch_size=bs,
    )


def epoch_order(s: Setup, within: dict[str, Any] | None) -> tuple[torch.Tensor, torch.Tensor]:
    """An epoch's order of the training images, drawn from the run's generator, and the generator's
    state it was drawn from. ``within``: a checkpoint saved inside the epoch, whose order is drawn again
    from the state it saved (the generator then goes on from where it was)."""
    p, gen = s.p, s.gen
    if not s.config.train.shuffle:  # the stored order every epoch (the course's loaders without shuffle)
        return torch.arange(len(p.train_y), device=p.device), gen.get_state()
    saved = within.get("epoch_generator") if within else None
    if saved is None:
        state = gen.get_state()
        return torch.randperm(len(p.train_y), generator=gen, device=p.device), state
    now = gen.get_state()
    gen.set_state(saved.cpu())
    perm = torch.randperm(len(p.train_y), generator=gen, device=p.device)
    gen.set_state(now)
    return perm, saved
