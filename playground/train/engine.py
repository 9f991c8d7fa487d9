"""The training engine: ``fit(config)`` is an iterator of events.

Following airbench: the data set lives on the training device as uint8
tensors; each step gathers a batch by index, scales it to [0, 1], runs the
batched augmentations (independent draws per sample, on the device),
normalises with the training split's statistics and steps the model. There
is no DataLoader and no per-sample Python.

Events (one schema for the CLI, the app and the run store)::

    start    run_id, device, dataset summary, parameters, batch_size (the one used), steps_per_epoch, total_steps
    step     step, epoch, loss, acc, lr, images_per_s, t (and, every few seconds, the quick test estimate:
             quick_test_loss, quick_test_acc, quick_test_n, quick_test_seconds: ``probes.QuickTest``)
    epoch    epoch, step, train_loss, train_acc, test_loss, test_acc, per_class_acc, confusion, t
             (partial: true when the run was stopped inside the epoch: the figures of its steps so far)
    resumed  epoch, step (in_epoch: steps of that epoch already done)
    set      step, and the changed lr / momentum / weight_decay: applied from the next step
    done | stopped | diverged | error    (final; with a message a person can act on)
    interrupted  step, message: the server is going away; the run saved this step (not in the run's file)

Controls (stop, pause, resume, interrupt) may be called from another thread.
"""

from __future__ import annotations

import math
import time
import traceback
from typing import Any, Callable, Iterator, Mapping

import torch
import torch.nn as nn

from ..config import RunConfig
from ..device import device_label
from ..errors import PlaygroundError
from ..events import ErrorEvent, InterruptedEvent
from ..failures import failure_message
from ..jobs.controls import Controls
from ..runs import Run, RunStore
from .meter import Meter
from .plan import check_names
from .probes import quick_test
from .run_setup import Setup, epoch_order, setup
from .stepview import batch_event

__all__ = ["Controls", "fit", "resume"]


def _error_event(e: BaseException) -> ErrorEvent:
    if isinstance(e, PlaygroundError):
        return {"kind": "error", "message": str(e)}
    if (message := failure_message(e)) is not None:  # the disk full, the device's or the host's memory spent
        return {"kind": "error", "message": message}
    return {
        "kind": "error",
        "message": f"Internal error ({type(e).__name__}: {e}). The run was ended; please report it with the traceback.",
        "traceback": traceback.format_exc(),
    }


def fit(
    config: RunConfig,
    *,
    run: Run | None = None,
    store: RunStore | None = None,
    controls: Controls | None = None,
    resume_state: dict[str, Any] | None = None,
) -> Iterator[Mapping[str, Any]]:
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


def _fit(
    config: RunConfig, run: Run | None, controls: Controls, resume_state: dict[str, Any] | None
) -> Iterator[Mapping[str, Any]]:
    def emit(event: Mapping[str, Any]) -> Mapping[str, Any]:
        if run is not None:
            run.append(event)
        return event

    def emit_final(event: Mapping[str, Any]) -> Mapping[str, Any]:
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


def resume(
    run_id: str, store: RunStore | None = None, controls: Controls | None = None, device: str | None = None
) -> Iterator[Mapping[str, Any]]:
    """Continue a run (e.g. one whose process was killed) from its last checkpoint. The run is locked
    before its metrics are cut back to the checkpoint, so a second trainer changes nothing. ``device``:
    where the job manager placed it (default: the run's own setting)."""
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
            if run.status() == "done":  # resuming would only cut its record back to the last checkpoint
                yield {
                    "kind": "error",
                    "message": f"Run {run_id} is done: it trained all its epochs, so there is "
                    "nothing to resume. To train longer, start a new run with more epochs (Run again).",
                }
                return
            config = run.config()
            if device:
                config = config.replace(train={"device": device})
            # Killed before its first epoch ended: nothing to continue from, so start it over.
            state = run.load_checkpoint() if run.checkpoint_path.exists() else None
            run.truncate_after_epoch(
                state["epoch"] if state else 0,
                state["step"] if state and state.get("in_epoch") else None,
                upto=state["step"] if state else 0,
            )
            if state is None:
                run.metrics_path.unlink(missing_ok=True)
        except PlaygroundError as e:
            yield {"kind": "error", "message": f"Cannot resume {run_id}: {e}"}
            return
        except OSError as e:  # a full disk while cutting the metrics back
            yield _error_event(e)
            return
        yield from _fit(config, run, controls or Controls(), state)


def _interrupted(s, run: Run | None, epoch: int, step: int, within: tuple, t: float) -> InterruptedEvent:
    """Save the run at this step (within its epoch) -> the ``interrupted`` event (not in the run's file)."""
    if run is not None:
        run.save_checkpoint(s.resumable_state(epoch, step, t, within=within))
    return {
        "kind": "interrupted",
        "step": step,
        "epoch": epoch,
        "t": t,
        "message": f"Interrupted at step {step} of {s.total_steps}: the server stopped. Resume continues "
        "from this step.",
    }


def _epoch_event(s, meter: Meter, epoch: int, step: int, t: float, partial: bool = False) -> dict[str, Any]:
    """The epoch event: training figures of the epoch's steps and the test split's. ``partial``: the run
    stopped inside the epoch (its steps so far; the probes are left out)."""
    task, n, bs = s.task, meter.ep_steps, s.batch_size
    ev = task.evaluate(s.p)
    val = s.validate()  # val_loss, val_acc (or val_psnr ...) with a validation split, else nothing
    return {
        "kind": "epoch",
        "epoch": epoch,
        "step": step,
        "train_loss": round(meter.ep_loss.item() / n, 5),
        f"train_{task.metric}": round(task.metric_value(meter.ep_score.item(), n * bs), 4),
        **ev,
        **val,
        **({"partial": True} if partial else s.probe_fields("on_epoch", epoch, step)),
        "t": t,
    }


def _one_step(s, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward, loss, backward, (clip,) optimiser and schedule step: the model's output and the loss."""
    with s.p.autocast():
        out = s.p.model(x)
        loss = s.task.loss(out, y)
    s.opt.zero_grad(set_to_none=True)
    loss.backward()
    if s.config.optim.grad_clip > 0:
        nn.utils.clip_grad_norm_(s.p.model.parameters(), s.config.optim.grad_clip)
    s.opt.step()
    s.sched.step()
    return out, loss


def _begin(
    s: Setup, run: Run | None, resume_state: dict[str, Any] | None, now: Callable[[], float]
) -> tuple[int, int, int, dict[str, Any]]:
    """(first epoch, step, steps already done in that epoch, the run's first event): ``start`` for a new
    run, ``resumed`` (the state restored) for one continued from a checkpoint."""
    if resume_state is None:
        return 0, 0, 0, {**s.start_event(run), "t": now()}
    start_epoch, step, note = s.restore(resume_state)
    in_epoch = int(resume_state.get("in_epoch", 0))
    return (
        start_epoch,
        step,
        in_epoch,
        {
            "kind": "resumed",
            "epoch": start_epoch,
            "step": step,
            "t": now(),
            **({"in_epoch": in_epoch} if in_epoch else {}),
            **({"note": note} if note else {}),
        },
    )


def _log_event(s: Setup, meter: Meter, step: int, epoch: int, lr: float, now: Callable[[], float]) -> dict[str, Any]:
    """The figures of the steps since the last log as a ``step`` event, or a ``diverged`` one (with its
    message; the caller ends the run) when their mean loss is not finite."""
    n_window = meter.steps
    mean_loss, score, rate = meter.read(s.batch_size)
    if not math.isfinite(mean_loss):
        return {
            "kind": "diverged",
            "message": (
                f"The loss became {mean_loss} at step {step}: training diverged. Lower the learning "
                f"rate (now {lr:g}), e.g. to {lr / 10:g}, or turn on gradient clipping."
            ),
        }
    task = s.task
    return {
        "kind": "step",
        "step": step,
        "epoch": epoch,
        "loss": round(mean_loss, 5),
        task.metric: round(task.metric_value(score, n_window * s.batch_size), 4),
        "lr": s.sched.get_last_lr()[0],
        "images_per_s": round(rate, 1),
        **s.probe_fields("on_log", step, epoch),
        "t": now(),
    }


def _done_figures(meter: Meter, device: Any, run: Run | None) -> dict[str, Any]:
    """The ``done`` event's speed figures, device and run id."""
    return {
        "train_seconds": round(meter.train_seconds, 3),
        "images_per_second": round(meter.images / max(meter.train_seconds, 1e-9), 1),
        "device": device_label(device),
        "run_id": run.run_id if run else None,
    }


def _train(
    config: RunConfig, run: Run | None, controls: Controls, resume_state: dict[str, Any] | None, emit
) -> Iterator[Mapping[str, Any]]:
    t_start, t_offset = time.perf_counter(), float(resume_state.get("t", 0.0)) if resume_state else 0.0

    def now() -> float:
        return round(t_offset + time.perf_counter() - t_start, 3)

    s = setup(config, run)
    s.probes.extend(quick_test(s.p, run, s.task))  # the test estimate while an epoch trains (probes.QuickTest)
    p, task, model, gen = s.p, s.task, s.p.model, s.gen
    t, o, bs, save = config.train, config.optim, s.batch_size, run is not None and config.train.checkpoint
    start_epoch, step, in_epoch, first_event = _begin(s, run, resume_state, now)
    yield emit(first_event)

    def finish(kind: str, **fields: Any) -> Mapping[str, Any]:
        if save and run is not None:  # save: a run with checkpoints on
            run.save_checkpoint(s.final_state(epoch, step, min(epoch + (kind == "done"), s.n_epochs)), final=True)
        return emit({"kind": kind, "step": step, "t": now(), **fields})

    meter, last, epoch = Meter(p.device), {}, start_epoch
    model.train()
    for epoch in range(start_epoch, s.n_epochs):
        first = in_epoch if epoch == start_epoch else 0
        perm, epoch_gen = epoch_order(s, resume_state if first else None)
        steps_this_epoch = min(s.steps_per_epoch, s.total_steps - epoch * s.steps_per_epoch)
        meter.new_epoch()
        for i in range(first, steps_this_epoch):
            meter.skip(controls.wait_while_paused())
            single = controls.take_single()  # "Step once" while paused: this step is reported, then paused
            if controls.interrupted:  # the server is going away: save this step, end without a final event
                yield _interrupted(s, run if save else None, epoch, step, (i, epoch_gen), now())
                return
            if change := controls.changes():  # the learning rate (or momentum, weight decay) changed
                yield emit({"kind": "set", "step": step, **s.apply_change(change), "t": now()})
            if controls.stopped or controls.out_of_time():
                if meter.ep_steps:  # stopped inside an epoch: its test figures, so the run ends with some
                    yield emit(_epoch_event(s, meter, epoch, step, now(), partial=True))
                yield finish("stopped", epoch=epoch, message=controls.stop_message(step, s.total_steps))
                return
            x, y = task.batch(p, perm[i * bs : (i + 1) * bs], gen)  # (B, C, H, W) float, normalised; targets
            out, loss = _one_step(s, x, y)
            step += 1
            meter.add(loss.detach().float(), task.score(out, y))
            if single:
                yield emit({**batch_event(s, x, y, out, loss.detach(), step, epoch, run), "t": now()})
            if single or meter.due(t.log_every, t.log_seconds) or i == steps_this_epoch - 1:
                logged = _log_event(s, meter, step, epoch, o.lr, now)
                if logged["kind"] == "diverged":
                    yield finish("diverged", epoch=epoch, message=logged["message"])
                    return
                yield emit(logged)
                meter.restart()
        last = _epoch_event(s, meter, epoch, step, now())
        ev = last
        s.keep_if_best(last)  # with a validation split: the best epoch's weights, marked val_best
        yield emit(last)
        if save and run is not None:
            run.save_checkpoint(s.resumable_state(epoch + 1, step, now()))
        if t.target_acc is not None and ev.get("test_acc", 0.0) >= t.target_acc:
            break
    if not last:  # resumed after the last epoch had finished but before "done" was written
        last = task.evaluate(p)
    best = s.use_best()  # the course's protocol: the best validation checkpoint is the one tested and saved
    last = task.evaluate(p) if best else last
    yield finish("done", epoch=epoch, **task.done_fields(last), **best, **_done_figures(meter, p.device, run))
