"""The training engine: ``fit(config)`` is an iterator of events.

Following airbench: the data set lives on the training device as uint8
tensors; each step gathers a batch by index, scales it to [0, 1], runs the
batched augmentations (independent draws per sample, on the device),
normalises with the training split's statistics and steps the model. There
is no DataLoader and no per-sample Python.

Events (one schema for the CLI, the app and the run store)::

    start    run_id, device, dataset summary, parameters, batch_size (the one used), steps_per_epoch, total_steps
    step     step, epoch, loss, acc, lr, images_per_s, t
    epoch    epoch, step, train_loss, train_acc, test_loss, test_acc, per_class_acc, confusion, t
    resumed  epoch, step
    done | stopped | diverged | error    (final; with a message a person can act on)

Controls (stop, pause, resume) may be called from another thread.
"""

from __future__ import annotations

import math
import time
import traceback
from dataclasses import dataclass
from typing import Any, Iterator

import torch
import torch.nn as nn

from ..config import RunConfig
from ..data import DATASETS, load_dataset
from ..data.augment import build_pipeline
from ..device import device_label, resolve_device
from ..errors import ConfigError, PlaygroundError
from ..models import ENGINE_PARAMS, MODELS, build_model
from ..runs import DISK_FULL, Run, RunStore, is_disk_full
from ..seeding import seeded
from .controls import Controls
from .init import INITS, init_weights
from .meter import Meter
from .optim import OPTIMIZERS, SCHEDULES, build_optimizer, build_schedule
from .prepared import Prepared
from .probes import PROBES, build_probes
from .tasks import TASKS, build_task

__all__ = ["AUTO_BATCH_MAX", "Controls", "auto_batch_size", "batch_size_for", "check_names", "fit", "resume",
           "prepare", "step_counts"]

AUTO_BATCH_MAX = 64  # the largest batch the auto rule picks (the gate estimates memory with it)
AUTO_MIN_STEPS = 20  # the auto rule gives an epoch at least this many steps (from 40 training images on)


def auto_batch_size(n_train: int) -> int:
    """The batch size a run gets when it sets none: the largest power of two that gives an epoch at least
    ``AUTO_MIN_STEPS`` steps, from 2 to ``AUTO_BATCH_MAX`` (8,000 images: 64; 150 images: 4). On ``shapes``
    on a CPU, 64 costs about what 128 does per epoch and learns more per epoch (docs/BENCHMARKS.md,
    "Defaults that learn")."""
    room = max(2, min(AUTO_BATCH_MAX, n_train // AUTO_MIN_STEPS))
    return 1 << (room.bit_length() - 1)


def batch_size_for(config: RunConfig, n_train: int) -> int:
    """The batch size ``config`` trains with on ``n_train`` images: its own, or the auto rule's (None)."""
    bs = config.train.batch_size
    return auto_batch_size(n_train) if bs is None else bs


def step_counts(config: RunConfig, n_train: int) -> tuple[int, int, int]:
    """(batch size, steps per epoch, total steps) of ``config`` on ``n_train`` training images: what the
    run will do, known before it starts (the Train page shows it)."""
    bs = batch_size_for(config, n_train)
    steps_per_epoch = n_train // bs  # drop_last: every batch full (BatchNorm needs > 1 sample)
    return bs, steps_per_epoch, max(1, round(config.train.epochs * steps_per_epoch))


def prepare(config: RunConfig, runs_root=None) -> Prepared:
    """Validate the config, load data (cached) and build the model on the device. ``runs_root``: the
    run store the run is saved in (where a transfer model finds its source run; default: settings)."""
    check_names(config)
    d, m, t = config.data, config.model, config.train
    device = resolve_device(t.device)
    augment = build_pipeline(d.augment)  # bad specs fail before the (slow) data load
    data = load_dataset(d.dataset, root=d.data_root, download=d.download, **dict(d.params))
    n_train = len(data.train_y) if d.train_limit is None else min(d.train_limit, len(data.train_y))
    bs = batch_size_for(config, n_train)
    if bs > n_train:
        raise ConfigError(
            f"Batch size {bs} is larger than the training set ({n_train} images); "
            f"use a batch size of at most {n_train}."
        )
    if bs < 2:
        raise ConfigError("Batch size must be at least 2: batch normalisation and the loss need more than one "
                          "image per step.")
    with seeded(t.seed):  # model initialisation
        model = build_model(m.name, in_shape=data.shape, num_classes=data.num_classes, runs_root=runs_root,
                            **dict(m.params))
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


def check_names(config: RunConfig) -> None:
    """Fail fast, before any data is loaded, on unknown registry names or bad values."""
    config.validate()
    d, m, o, t = config.data, config.model, config.optim, config.train
    for reg, name in ((DATASETS, d.dataset), (MODELS, m.name), (INITS, m.init), (OPTIMIZERS, o.name),
                      (SCHEDULES, o.schedule), (TASKS, t.task), *((PROBES, n) for n in t.probes)):
        reg.check(name)
    # Parameters the engine passes itself cannot come from the config too.
    DATASETS.check_reserved(d.params, ("root", "download"), "use the data folder and download settings")
    MODELS.check_reserved(m.params, ENGINE_PARAMS, "the engine sets them (data shape, run store)")
    OPTIMIZERS.check_reserved(o.params, ("lr", "weight_decay"), "they have settings of their own")
    SCHEDULES.check_reserved(o.schedule_params, ("total_steps", "steps_per_epoch"), "the engine sets them")
    TASKS.get(t.task).check_config(config)
    build_pipeline(config.data.augment)
    resolve_device(config.train.device)


def _error_event(e: BaseException) -> dict[str, Any]:
    if isinstance(e, PlaygroundError):
        return {"kind": "error", "message": str(e)}
    if is_disk_full(e):  # OSError(ENOSPC/EDQUOT), or torch.save's RuntimeError for it
        return {"kind": "error", "message": DISK_FULL}
    if isinstance(e, torch.OutOfMemoryError):
        return {"kind": "error", "message": "Out of memory on the device. Lower the batch size, use a smaller "
                                           "model, or train on the CPU."}
    if isinstance(e, MemoryError) or "can't allocate memory" in str(e):  # the host, or a worker's limit
        return {"kind": "error", "message": "Out of memory: the run needed more than this server lets one run "
                                           "use. Lower the batch size or use a smaller model."}
    return {"kind": "error", "message": f"Internal error ({type(e).__name__}: {e}). The run was ended; "
                                        "please report it with the traceback.",
            "traceback": traceback.format_exc()}


def fit(config: RunConfig, *, run: Run | None = None, store: RunStore | None = None,
        controls: Controls | None = None, resume_state: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Train ``config``; yield events. With ``run`` (or ``store``, which creates one)
    every event is appended to the run's metrics and checkpoints are written, and the run is locked
    for as long as it trains: a second trainer of it gets one ``error`` event (not written to the run)."""
    controls = controls or Controls()
    if run is None and store is not None:
        try:
            check_names(config)  # a typo should not leave an empty run behind
            run = store.create(config)
        except Exception as e:  # a bad config, a full disk
            yield _error_event(e)
            return
    if run is None:
        yield from _fit(config, None, controls, resume_state)
        return
    try:
        lock = run.lock()
    except Exception as e:  # another process trains it; the folder is gone
        yield _error_event(e)
        return
    with lock:  # released at the end, on an error and when the consumer closes the generator
        yield from _fit(config, run, controls, resume_state)


def _fit(config: RunConfig, run: Run | None, controls: Controls,
         resume_state: dict[str, Any] | None) -> Iterator[dict[str, Any]]:
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
    """Continue a run (e.g. one whose process was killed) from its last checkpoint. The run is locked
    before its metrics are cut back to the checkpoint, so a second trainer changes nothing."""
    store = store or RunStore()
    try:
        run = store.open(run_id)
        lock = run.lock()
    except PlaygroundError as e:
        yield {"kind": "error", "message": f"Cannot resume {run_id}: {e}"}
        return
    except OSError as e:
        yield _error_event(e)
        return
    with lock:
        try:
            config = run.config()
            # Killed before its first epoch ended: nothing to continue from, so start it over.
            state = run.load_checkpoint() if run.checkpoint_path.exists() else None
            run.truncate_after_epoch(state["epoch"] if state else 0)
            if state is None:
                run.metrics_path.unlink(missing_ok=True)
        except PlaygroundError as e:
            yield {"kind": "error", "message": f"Cannot resume {run_id}: {e}"}
            return
        except OSError as e:  # a full disk while cutting the metrics back
            yield _error_event(e)
            return
        yield from _fit(config, run, controls or Controls(), state)


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

    def probe_fields(self, hook: str, *args: int) -> dict[str, Any]:
        """What the probes add to an event (``hook``: on_start, on_log or on_epoch)."""
        out: dict[str, Any] = {}
        for probe in self.probes:
            out.update(getattr(probe, hook)(*args) or {})
        return out

    def start_event(self, run: Run | None) -> dict[str, Any]:
        p, model = self.p, self.p.model
        return {"kind": "start", "run_id": run.run_id if run else None, "device": device_label(p.device),
                "dataset": p.data.summary(), "task": self.config.train.task, "train_images": len(p.train_y),
                "parameters": sum(q.numel() for q in model.parameters()),
                "trainable_parameters": sum(q.numel() for q in model.parameters() if q.requires_grad),
                "batch_size": self.batch_size, "steps_per_epoch": self.steps_per_epoch,
                "total_steps": self.total_steps,
                "epochs": self.config.train.epochs, **self.probe_fields("on_start"),
                "started_at": round(time.time(), 3)}

    def resumable_state(self, epochs_done: int, step: int, t: float) -> dict[str, Any]:
        return {"model": self.p.model.state_dict(), "optimizer": self.opt.state_dict(),
                "scheduler": self.sched.state_dict(), "generator": self.gen.get_state(), "epoch": epochs_done,
                "step": step, "t": t, "config": self.config.to_dict()}

    def final_state(self, epoch: int, step: int) -> dict[str, Any]:
        """What a model file needs to be used without the data set (exports, the inspection page).
        mean/std: the normalisation the model's input really had (identity for a model that normalises itself)."""
        p = self.p
        data = {"shape": list(p.data.shape), "classes": list(p.data.classes), "mean": p.mean.flatten().tolist(),
                "std": p.std.flatten().tolist()}
        return {"model": p.model.state_dict(), "config": self.config.to_dict(), "step": step, "epoch": epoch,
                "data": data}

    def restore(self, state: dict[str, Any]) -> tuple[int, int, str | None]:
        """Load a checkpoint's training state; -> (epoch, step, note for the resumed event)."""
        self.p.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])
        epoch, step = int(state["epoch"]), int(state["step"])
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
    groups = model.param_groups(o.lr) if hasattr(model, "param_groups") else \
        [q for q in model.parameters() if q.requires_grad]
    opt = build_optimizer(o.name, groups, lr=o.lr, weight_decay=o.weight_decay, **dict(o.params))
    sched = build_schedule(o.schedule, opt, total_steps=total_steps, steps_per_epoch=steps_per_epoch,
                           **dict(o.schedule_params))
    return Setup(config=config, p=p, task=task, opt=opt, sched=sched,
                 gen=torch.Generator(device=p.device).manual_seed(t.seed), probes=build_probes(t.probes, p, run),
                 steps_per_epoch=steps_per_epoch, total_steps=total_steps,
                 n_epochs=math.ceil(total_steps / steps_per_epoch), batch_size=bs)


def _train(config: RunConfig, run: Run | None, controls: Controls, resume_state: dict[str, Any] | None,
           emit) -> Iterator[dict[str, Any]]:
    t_start, t_offset = time.perf_counter(), float(resume_state.get("t", 0.0)) if resume_state else 0.0

    def now() -> float:
        return round(t_offset + time.perf_counter() - t_start, 3)

    s = setup(config, run)
    p, task, model, opt, sched, gen = s.p, s.task, s.p.model, s.opt, s.sched, s.gen
    t, o, bs, save = config.train, config.optim, s.batch_size, run is not None and config.train.checkpoint
    start_epoch, step = 0, 0
    if resume_state is None:
        yield emit({**s.start_event(run), "t": now()})
    else:
        start_epoch, step, note = s.restore(resume_state)
        yield emit({"kind": "resumed", "epoch": start_epoch, "step": step, "t": now(),
                    **({"note": note} if note else {})})

    def finish(kind: str, **fields: Any) -> dict[str, Any]:
        if save:
            run.save_checkpoint(s.final_state(epoch, step), final=True)
        return emit({"kind": kind, "step": step, "t": now(), **fields})

    meter, last, epoch = Meter(p.device), {}, start_epoch
    model.train()
    for epoch in range(start_epoch, s.n_epochs):
        perm = torch.randperm(len(p.train_y), generator=gen, device=p.device)
        steps_this_epoch = min(s.steps_per_epoch, s.total_steps - epoch * s.steps_per_epoch)
        meter.new_epoch()
        for i in range(steps_this_epoch):
            meter.skip(controls.wait_while_paused())
            if controls.stopped or controls.out_of_time():
                yield finish("stopped", epoch=epoch, message=controls.stop_message(step, s.total_steps))
                return
            x, y = task.batch(p, perm[i * bs : (i + 1) * bs], gen)  # (B, C, H, W) float, normalised; targets
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
            meter.add(loss.detach().float(), task.score(out, y))
            if meter.steps == t.log_every or i == steps_this_epoch - 1:
                n_window = meter.steps
                mean_loss, score, rate = meter.read(bs)
                if not math.isfinite(mean_loss):
                    yield finish("diverged", epoch=epoch, message=(
                        f"The loss became {mean_loss} at step {step}: training diverged. Lower the learning "
                        f"rate (now {o.lr:g}), e.g. to {o.lr / 10:g}, or turn on gradient clipping."))
                    return
                yield emit({"kind": "step", "step": step, "epoch": epoch, "loss": round(mean_loss, 5),
                            task.metric: round(task.metric_value(score, n_window * bs), 4),
                            "lr": sched.get_last_lr()[0], "images_per_s": round(rate, 1),
                            **s.probe_fields("on_log", step, epoch), "t": now()})
                meter.restart()
        ev, n = task.evaluate(p), meter.ep_steps
        last = {"kind": "epoch", "epoch": epoch, "step": step, "train_loss": round(meter.ep_loss.item() / n, 5),
                f"train_{task.metric}": round(task.metric_value(meter.ep_score.item(), n * bs), 4), **ev,
                **s.probe_fields("on_epoch", epoch, step), "t": now()}
        yield emit(last)
        if save:
            run.save_checkpoint(s.resumable_state(epoch + 1, step, now()))
        if t.target_acc is not None and ev.get("test_acc", 0.0) >= t.target_acc:
            break
    if not last:  # resumed after the last epoch had finished but before "done" was written
        last = task.evaluate(p)
    yield finish("done", epoch=epoch, **task.done_fields(last), train_seconds=round(meter.train_seconds, 3),
                 images_per_second=round(meter.images / max(meter.train_seconds, 1e-9), 1),
                 device=device_label(p.device), run_id=run.run_id if run else None)
