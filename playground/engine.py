"""The training engine: ``fit(config)`` is an iterator of events.

Following airbench: the data set lives on the training device as uint8
tensors; each step gathers a batch by index, scales it to [0, 1], runs the
batched augmentations (independent draws per sample, on the device),
normalises with the training split's statistics and steps the model. There
is no DataLoader and no per-sample Python.

Events (one schema for the CLI, the app and the run store)::

    start    run_id, device, dataset summary, parameters, steps_per_epoch, total_steps
    step     step, epoch, loss, acc, lr, images_per_s, t
    epoch    epoch, step, train_loss, train_acc, test_loss, test_acc, per_class_acc, confusion, t
    resumed  epoch, step
    done | stopped | diverged | error    (final; with a message a person can act on)

Controls (stop, pause, resume) may be called from another thread.
"""

from __future__ import annotations

import errno
import math
import threading
import time
import traceback
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import RunConfig
from .data import Dataset, load_dataset
from .data.augment import Pipeline, build_pipeline
from .errors import ConfigError, PlaygroundError
from .init import init_weights
from .models import build_model
from .optim import build_optimizer, build_schedule
from .probes import build_probes
from .runs import Run, RunStore
from .tasks import build_task

__all__ = ["Controls", "check_names", "device_summary", "fit", "resume", "resolve_device", "prepare", "Prepared", "evaluate"]


class Controls:
    """Thread-safe stop / pause / resume for a running ``fit``."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()  # wake a paused run so it can stop

    def pause(self) -> None:
        if not self._stop.is_set():  # a stop already asked for wins
            self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def wait_while_paused(self) -> float:
        """Block while paused; return the seconds spent waiting."""
        if self._running.is_set():
            return 0.0
        t0 = time.perf_counter()
        self._running.wait()
        return time.perf_counter() - t0


SAMPLES = 16  # test images whose predictions every epoch event carries


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError("No CUDA GPU is visible to PyTorch here; use device 'cpu' or 'auto'.")
        try:
            dev = torch.device(name)
        except RuntimeError:
            raise ConfigError(f"{name!r} is not a device; use cuda or cuda:N.") from None
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"There is no {name}: {torch.cuda.device_count()} GPU(s) are visible.")
        return dev
    if name == "cpu":
        return torch.device("cpu")
    raise ConfigError(f"device must be auto, cpu or cuda (got {name!r}).")


def device_summary() -> dict[str, Any]:
    """What "auto" trains on here: for the app's sidebar."""
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        return {"type": "cuda", "name": props.name, "count": torch.cuda.device_count(),
                "memory_gb": round(props.total_memory / 2**30, 1)}
    return {"type": "cpu", "name": "CPU", "count": 0, "threads": torch.get_num_threads()}


def device_label(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return "cpu"


@dataclass
class Prepared:
    """Everything built from a config, ready to train (also used by inspection tools)."""

    config: RunConfig
    data: Dataset
    device: torch.device
    model: nn.Module
    train_x: torch.Tensor  # (N, C, H, W) uint8 on device
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    mean: torch.Tensor  # (1, C, 1, 1) float on device
    std: torch.Tensor
    augment: Pipeline
    channels_last: bool
    autocast_dtype: torch.dtype | None

    def to_input(self, x_uint8: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """uint8 (B, C, H, W) on device -> augmented (if a generator is given), normalised float."""
        x = x_uint8.float().mul_(1 / 255)
        if generator is not None and self.augment:
            x = self.augment(x, generator)
        x = x.sub_(self.mean).div_(self.std)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def autocast(self):
        if self.autocast_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)


def prepare(config: RunConfig) -> Prepared:
    """Validate the config, load data (cached) and build the model on the device."""
    check_names(config)
    d, m, t = config.data, config.model, config.train
    device = resolve_device(t.device)
    augment = build_pipeline(d.augment)  # bad specs fail before the (slow) data load
    data = load_dataset(d.dataset, root=d.data_root, download=d.download, **dict(d.params))
    n_train = len(data.train_y) if d.train_limit is None else min(d.train_limit, len(data.train_y))
    if t.batch_size > n_train:
        raise ConfigError(
            f"Batch size {t.batch_size} is larger than the training set ({n_train} images); "
            f"use a batch size of at most {n_train}."
        )
    if t.batch_size < 2:
        raise ConfigError("Batch size must be at least 2: batch normalisation and the loss need more than one "
                          "image per step.")
    torch.manual_seed(t.seed)  # model initialisation
    model = build_model(m.name, in_shape=data.shape, num_classes=data.num_classes, **dict(m.params))
    init_weights(model, m.init, **dict(m.init_params))
    # channels_last pays on CUDA and, measured here, on the CPU too (6.1k vs 3.9k img/s, small CNN).
    channels_last = any(isinstance(mod, nn.Conv2d) for mod in model.modules())
    model = model.to(device, memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    c = data.shape[0]
    p = Prepared(
        config=config, data=data, device=device, model=model,
        train_x=data.train_x[:n_train].to(device), train_y=data.train_y[:n_train].to(device),
        test_x=data.test_x.to(device), test_y=data.test_y.to(device),
        mean=torch.tensor(data.mean, device=device).view(1, c, 1, 1),
        std=torch.tensor(data.std, device=device).view(1, c, 1, 1),
        augment=augment, channels_last=channels_last,
        autocast_dtype=torch.bfloat16 if device.type == "cuda" else None,
    )
    # A model may adapt what it is fed (its own normalisation; the transfer model's feature cache).
    return model.on_prepare(p) if hasattr(model, "on_prepare") else p


@torch.no_grad()
def evaluate(p: Prepared, batch_size: int | None = None) -> dict[str, Any]:
    """Test loss, accuracy, per-class accuracy and confusion matrix (rows: true class)."""
    bs = batch_size or p.config.train.eval_batch_size
    k = p.data.num_classes
    was_training = p.model.training
    p.model.eval()
    loss_sum = torch.zeros((), device=p.device)
    confusion = torch.zeros(k * k, dtype=torch.int64, device=p.device)
    for i in range(0, len(p.test_y), bs):
        x, y = p.to_input(p.test_x[i : i + bs]), p.test_y[i : i + bs]
        with p.autocast():
            out = p.model(x)
        loss_sum += F.cross_entropy(out.float(), y, reduction="sum")
        confusion += torch.bincount(y * k + out.argmax(1), minlength=k * k)
    # A fixed spread of test images, for the "predictions, right or wrong" grid.
    idx = torch.linspace(0, len(p.test_y) - 1, min(SAMPLES, len(p.test_y)), device=p.device).long()
    with p.autocast():
        probs = p.model(p.to_input(p.test_x[idx])).float().softmax(1)
    conf_p, pred = probs.max(1)
    p.model.train(was_training)
    conf = confusion.view(k, k).cpu()
    n = conf.sum().item()
    per_class = (conf.diag().double() / conf.sum(1).clamp_min(1).double()).tolist()
    return {
        "test_loss": loss_sum.item() / max(n, 1),
        "test_acc": conf.diag().sum().item() / max(n, 1),
        "per_class_acc": [round(a, 4) for a in per_class],
        "confusion": conf.tolist(),
        "samples": {"index": idx.tolist(), "true": p.test_y[idx].tolist(), "pred": pred.tolist(),
                    "prob": [round(c, 4) for c in conf_p.tolist()]},
    }


def check_names(config: RunConfig) -> None:
    """Fail fast, before any data is loaded, on unknown registry names or bad values."""
    from .data import DATASETS
    from .init import INITS
    from .models import MODELS
    from .optim import OPTIMIZERS, SCHEDULES
    from .probes import PROBES
    from .tasks import TASKS

    config.validate()
    d, m, o, t = config.data, config.model, config.optim, config.train
    for reg, name in ((DATASETS, d.dataset), (MODELS, m.name), (INITS, m.init), (OPTIMIZERS, o.name),
                      (SCHEDULES, o.schedule), (TASKS, t.task), *((PROBES, n) for n in t.probes)):
        reg.get(name)
    # Parameters the engine passes itself cannot come from the config too.
    DATASETS.check_reserved(d.params, ("root", "download"), "use the data folder and download settings")
    MODELS.check_reserved(m.params, ("in_shape", "num_classes"), "they come from the data set")
    OPTIMIZERS.check_reserved(o.params, ("lr", "weight_decay"), "they have settings of their own")
    SCHEDULES.check_reserved(o.schedule_params, ("total_steps", "steps_per_epoch"), "the engine sets them")
    build_pipeline(config.data.augment)
    resolve_device(config.train.device)


def _error_event(e: BaseException) -> dict[str, Any]:
    if isinstance(e, PlaygroundError):
        return {"kind": "error", "message": str(e)}
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        return {"kind": "error", "message": "The disk is full: the run could not write its metrics or checkpoint. "
                                           "Free some space (old runs live in the runs folder) and resume it."}
    if isinstance(e, torch.OutOfMemoryError):
        return {"kind": "error", "message": "Out of memory on the device. Lower the batch size, use a smaller "
                                           "model, or train on the CPU."}
    return {"kind": "error", "message": f"Internal error ({type(e).__name__}: {e}). The run was ended; "
                                        "please report it with the traceback.",
            "traceback": traceback.format_exc()}


def fit(config: RunConfig, *, run: Run | None = None, store: RunStore | None = None,
        controls: Controls | None = None, resume_state: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Train ``config``; yield events. With ``run`` (or ``store``, which creates one)
    every event is appended to the run's metrics and checkpoints are written."""
    controls = controls or Controls()
    if run is None and store is not None:
        try:
            check_names(config)  # a typo should not leave an empty run behind
        except PlaygroundError as e:
            yield {"kind": "error", "message": str(e)}
            return
        run = store.create(config)

    def emit(event: dict[str, Any]) -> dict[str, Any]:
        if run is not None:
            run.append(event)
        return event

    def emit_final(event: dict[str, Any]) -> dict[str, Any]:
        try:
            return emit(event)
        except OSError:  # the run store itself failed (a full disk): the caller still gets the event
            return event

    try:
        yield from _train(config, run, controls, resume_state, emit)
    except GeneratorExit:
        emit_final({"kind": "stopped", "message": "The consumer stopped reading events."})
        raise
    except Exception as e:  # never crash the caller: a final event says what happened
        yield emit_final(_error_event(e))
    finally:
        if torch.cuda.is_available():  # hand a failed or finished run's GPU memory back to the others
            torch.cuda.empty_cache()


def resume(run_id: str, store: RunStore | None = None, controls: Controls | None = None) -> Iterator[dict[str, Any]]:
    """Continue a run (e.g. one whose process was killed) from its last checkpoint."""
    store = store or RunStore()
    try:
        run = store.open(run_id)
        config = run.config()
        # Killed before its first epoch ended: nothing to continue from, so start it over.
        state = run.load_checkpoint() if run.checkpoint_path.exists() else None
    except PlaygroundError as e:
        yield {"kind": "error", "message": f"Cannot resume {run_id}: {e}"}
        return
    run.truncate_after_epoch(state["epoch"] if state else 0)
    if state is None:
        run.metrics_path.unlink(missing_ok=True)
    yield from fit(config, run=run, controls=controls, resume_state=state)


def _train(config: RunConfig, run: Run | None, controls: Controls, resume_state: dict[str, Any] | None,
           emit) -> Iterator[dict[str, Any]]:
    t_start = time.perf_counter()
    t_offset = float(resume_state.get("t", 0.0)) if resume_state else 0.0

    def now() -> float:
        return round(t_offset + time.perf_counter() - t_start, 3)

    p = prepare(config)
    task = build_task(config)
    task.check(p)
    t, o = config.train, config.optim
    model, device = p.model, p.device
    n_train, bs = len(p.train_y), t.batch_size
    steps_per_epoch = n_train // bs  # drop_last: every batch full (BatchNorm needs > 1 sample)
    total_steps = max(1, round(t.epochs * steps_per_epoch))
    n_epochs = math.ceil(total_steps / steps_per_epoch)

    # A model may split its parameters into groups (a pretrained backbone at a lower rate than
    # its new head); frozen parameters (requires_grad False) never reach the optimiser.
    groups = model.param_groups(o.lr) if hasattr(model, "param_groups") else \
        [q for q in model.parameters() if q.requires_grad]
    opt = build_optimizer(o.name, groups, lr=o.lr, weight_decay=o.weight_decay, **dict(o.params))
    sched = build_schedule(o.schedule, opt, total_steps=total_steps, steps_per_epoch=steps_per_epoch,
                           **dict(o.schedule_params))
    gen = torch.Generator(device=device).manual_seed(t.seed)
    start_epoch, step = 0, 0
    if resume_state is not None:
        model.load_state_dict(resume_state["model"])
        opt.load_state_dict(resume_state["optimizer"])
        sched.load_state_dict(resume_state["scheduler"])
        start_epoch, step = int(resume_state["epoch"]), int(resume_state["step"])
        try:
            gen.set_state(resume_state["generator"].cpu())
            note = None
        except RuntimeError:  # written on another device type (a GPU run resumed on a CPU)
            gen.manual_seed(t.seed + start_epoch)
            note = "checkpoint from another device type: shuffling and augmentation draws were re-seeded"

    n_params = sum(q.numel() for q in model.parameters())
    probes = build_probes(t.probes, p, run)

    def probe_fields(call) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for probe in probes:
            out.update(call(probe) or {})
        return out

    if resume_state is None:
        yield emit({"kind": "start", "run_id": run.run_id if run else None, "device": device_label(device),
                    "dataset": p.data.summary(), "task": t.task, "train_images": n_train, "parameters": n_params,
                    "trainable_parameters": sum(q.numel() for q in model.parameters() if q.requires_grad),
                    "steps_per_epoch": steps_per_epoch, "total_steps": total_steps, "epochs": t.epochs,
                    **probe_fields(lambda pr: pr.on_start()), "started_at": round(time.time(), 3), "t": now()})
    else:
        yield emit({"kind": "resumed", "epoch": start_epoch, "step": step, "t": now(),
                    **({"note": note} if note else {})})

    def checkpoint_state(epochs_done: int) -> dict[str, Any]:
        return {"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                "generator": gen.get_state(), "epoch": epochs_done, "step": step, "t": now(),
                "config": config.to_dict()}

    # What a model file needs to be used without the data set (exports, the inspection page).
    # mean/std: the normalisation the model's input really had (identity for a model that normalises itself).
    data_meta = {"shape": list(p.data.shape), "classes": list(p.data.classes), "mean": p.mean.flatten().tolist(),
                 "std": p.std.flatten().tolist()}

    def finish(kind: str, **fields: Any) -> dict[str, Any]:
        if run is not None and t.checkpoint:
            run.save_checkpoint({"model": model.state_dict(), "config": config.to_dict(), "step": step,
                                 "epoch": epoch_idx, "data": data_meta}, final=True)
        return emit({"kind": kind, "step": step, "t": now(), **fields})

    train_seconds, images = 0.0, 0
    last: dict[str, Any] = {}
    epoch_idx = start_epoch
    model.train()
    for epoch_idx in range(start_epoch, n_epochs):
        perm = torch.randperm(n_train, generator=gen, device=device)
        steps_this_epoch = min(steps_per_epoch, total_steps - epoch_idx * steps_per_epoch)
        loss_acc = torch.zeros((), device=device)  # running sums on device: one sync per log
        correct_acc = torch.zeros((), device=device)  # the task's score, summed
        ep_loss = torch.zeros((), device=device)
        ep_correct = torch.zeros((), device=device)
        window_steps, t_window = 0, time.perf_counter()  # evaluation and checkpoints stay out of the rate
        for i in range(steps_this_epoch):
            paused = controls.wait_while_paused()
            t_window += paused
            if controls.stopped:
                yield finish("stopped", epoch=epoch_idx,
                             message=f"Stopped at step {step} of {total_steps}; the model so far is saved.")
                return
            idx = perm[i * bs : (i + 1) * bs]
            x, y = task.batch(p, idx, gen)  # inputs (B, C, H, W) float, augmented, normalised; targets
            with p.autocast():
                out = model(x)
                loss = task.loss(out, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if o.grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), o.grad_clip)
            opt.step()
            sched.step()
            step += 1
            window_steps += 1
            d_loss = loss.detach().float()
            d_correct = task.score(out, y)
            loss_acc += d_loss
            correct_acc += d_correct
            ep_loss += d_loss
            ep_correct += d_correct
            if window_steps == t.log_every or i == steps_this_epoch - 1:
                mean_loss = loss_acc.item() / window_steps  # the sync point
                acc = task.metric_value(correct_acc.item(), window_steps * bs)
                elapsed = time.perf_counter() - t_window
                train_seconds += elapsed
                images += window_steps * bs
                if not math.isfinite(mean_loss):
                    yield finish("diverged", epoch=epoch_idx, message=(
                        f"The loss became {mean_loss} at step {step}: training diverged. Lower the learning "
                        f"rate (now {o.lr:g}), e.g. to {o.lr / 10:g}, or turn on gradient clipping."))
                    return
                yield emit({"kind": "step", "step": step, "epoch": epoch_idx, "loss": round(mean_loss, 5),
                            task.metric: round(acc, 4), "lr": sched.get_last_lr()[0],
                            "images_per_s": round(window_steps * bs / max(elapsed, 1e-9), 1),
                            **probe_fields(lambda pr: pr.on_log(step, epoch_idx)), "t": now()})
                loss_acc.zero_()
                correct_acc.zero_()
                window_steps, t_window = 0, time.perf_counter()
        ev = task.evaluate(p)
        last = {"kind": "epoch", "epoch": epoch_idx, "step": step,
                "train_loss": round(ep_loss.item() / steps_this_epoch, 5),
                f"train_{task.metric}": round(task.metric_value(ep_correct.item(), steps_this_epoch * bs), 4), **ev,
                **probe_fields(lambda pr: pr.on_epoch(epoch_idx, step)), "t": now()}
        yield emit(last)
        if run is not None and t.checkpoint:
            run.save_checkpoint(checkpoint_state(epoch_idx + 1))
        if t.target_acc is not None and ev.get("test_acc", 0.0) >= t.target_acc:
            break
    if not last:  # resumed after the last epoch had finished but before "done" was written
        last = task.evaluate(p)
    yield finish("done", epoch=epoch_idx, **task.done_fields(last),
                 train_seconds=round(train_seconds, 3), images_per_second=round(images / max(train_seconds, 1e-9), 1),
                 device=device_label(device), run_id=run.run_id if run else None)
