"""Run configuration: frozen dataclasses shared by the CLI, the app and the run store.

A ``RunConfig`` is everything needed to reproduce a run. It round-trips through
``to_dict``/``from_dict`` and JSON (config.json in a run folder, the app's URL),
and ``validate`` checks the ranges that need no data loaded (text of any origin is read
through ``config_json``: bounded, its values matched to the fields' types); the engine checks
the rest (batch size against the data set size) once the data is there.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
import zlib
from dataclasses import dataclass, field, fields
from typing import Any, Mapping, Sequence

from .config_json import field_type, loads_bounded, plain, section_from_dict
from .errors import ConfigError

__all__ = [
    "DataConfig",
    "ModelConfig",
    "OptimConfig",
    "TrainConfig",
    "RunConfig",
    "config_fields",
    "with_change",
    "config_diff",
    "without_server_paths",
    "field_type",
]


@dataclass(frozen=True)
class DataConfig:
    dataset: str = "shapes"
    # None -> $PLAYGROUND_DATA or ./data; for image_folder, the folder itself.
    data_root: str | None = None
    # Data-set specific options, e.g. {"image_size": 32, "mode": "RGB"} for image_folder.
    params: Mapping[str, Any] = field(default_factory=dict)
    # Augmentation specs, applied in order: "hflip", "rotation:15", "translate:fraction=0.1".
    augment: tuple[str, ...] = ()
    # Corruption of the inputs for the reconstruct task (playground.data.noise), in order, on the device:
    # "gaussian:0.5", "salt_pepper:0.1", "mask:0.3". Empty: the clean images (a plain autoencoder).
    noise: tuple[str, ...] = ()
    # Corruption of the test images: empty means the same as ``noise``; "none" means clean.
    test_noise: tuple[str, ...] = ()
    # Use only the first N training images (quick experiments, tests).
    train_limit: int | None = None
    download: bool = True
    # How inputs are normalised (playground.data.normalise): "data" (the training split's mean and std),
    # "none" (pixels in [0, 1]), "fixed:mean=0.5,std=0.5", "imagenet".
    normalize: str = "data"


@dataclass(frozen=True)
class ModelConfig:
    name: str = "cnn"
    params: Mapping[str, Any] = field(default_factory=dict)
    init: str = "default"
    init_params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OptimConfig:
    name: str = "adam"
    lr: float = 4e-3  # with the one-cycle schedule: its peak (docs/BENCHMARKS.md, "Defaults that learn")
    weight_decay: float | None = None  # None: the optimiser's own default (0, or 0.01 for adamw)
    params: Mapping[str, Any] = field(default_factory=dict)  # e.g. {"momentum": 0.8}
    schedule: str = "onecycle"
    schedule_params: Mapping[str, Any] = field(default_factory=dict)
    label_smoothing: float = 0.0
    grad_clip: float = 0.0  # max global grad norm; 0 turns clipping off


@dataclass(frozen=True)
class TrainConfig:
    epochs: float = 8.0  # may be fractional: 1.5 trains one and a half passes
    # None: auto, from the training set's size (at least about 20 steps an epoch, at most 64 images a
    # step: playground.train.plan.auto_batch_size); the start event records the one used.
    batch_size: int | None = None
    eval_batch_size: int = 1000
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    # auto: bf16 mixed precision on a GPU and on a CPU with AMX bf16 units (1.0-2.5x the step there,
    # docs/BENCHMARKS.md), fp32 elsewhere; fp32 | bf16 force one (playground.device.autocast_dtype).
    precision: str = "auto"
    log_every: int = 10  # steps between step events (each costs a device sync)
    log_seconds: float = 1.0  # ... or this long since the last one, whichever comes first (0: steps only)
    # Images of the quick test estimate drawn while an epoch trains (a fixed, seeded subset of the test
    # split, every few seconds, at most ~3% of the time: playground.train.probes.QuickTest); 0: off.
    quick_test: int = 512
    checkpoint: bool = True
    # Stop early once the test accuracy reaches this (None: train all epochs).
    target_acc: float | None = None
    # What the model learns (playground.tasks): "classify", ...
    task: str = "classify"
    # Observers of the run (playground.probes), e.g. per-epoch snapshots.
    probes: tuple[str, ...] = ()
    # Reconstruction loss for the reconstruct task: "mse" or "bce" (BCE needs a sigmoid output).
    recon_loss: str = "mse"
    # Hold out this fraction of the training images (seeded) as a validation split: each epoch reports its
    # figures, and the checkpoint with the lowest validation loss is kept and tested at the end. 0: none.
    val_fraction: float = 0.0
    # Draw a new order of the training images every epoch (False: always the stored order).
    shuffle: bool = True


@dataclass(frozen=True)
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    # -- serialisation -------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return plain(dataclasses.asdict(self))

    def to_json(self, **kw: Any) -> str:
        return json.dumps(self.to_dict(), **kw)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "RunConfig":
        if not isinstance(d, Mapping):
            raise ConfigError("A run configuration must be a JSON object.")
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ConfigError(f"Unknown config section(s): {', '.join(sorted(unknown))}.")
        parts = {}
        for f in fields(cls):
            sub_cls = _SECTIONS[f.name]
            parts[f.name] = section_from_dict(sub_cls, d.get(f.name, {}), f.name)
        return cls(**parts)

    @classmethod
    def from_json(cls, s: str) -> "RunConfig":
        """Parse settings from JSON text of any origin (a file, a link): bounded in size, nesting and
        number length, so crafted text gets a message, never a traceback."""
        return cls.from_dict(loads_bounded(s))

    def to_url(self) -> str:
        """Compact, URL-safe text (for ?cfg=... links a teacher can share)."""
        raw = json.dumps(self.to_dict(), separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode().rstrip("=")

    @classmethod
    def from_url(cls, text: str) -> "RunConfig":
        damaged = ConfigError("The configuration in this link is damaged; the defaults are shown instead.")
        try:
            z = zlib.decompressobj()
            raw = z.decompress(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), 1 << 16)  # bounded
        except (ValueError, zlib.error):
            raise damaged from None
        if z.unconsumed_tail:
            raise damaged
        return cls.from_json(raw.decode("utf-8", errors="replace"))

    def replace(self, **sections: Mapping[str, Any]) -> "RunConfig":
        """Copy with some fields changed: ``cfg.replace(optim={"lr": 0.1})``."""
        new = {}
        for name, changes in sections.items():
            new[name] = dataclasses.replace(getattr(self, name), **changes)
        return dataclasses.replace(self, **new)

    # -- checks that need no data --------------------------------------
    def validate(self) -> "RunConfig":
        t, o, d = self.train, self.optim, self.data
        _check(
            math.isfinite(t.epochs) and 0 < t.epochs <= MAX_EPOCHS,
            f"epochs must be more than 0 and at most {MAX_EPOCHS:,} (got {t.epochs}).",
        )
        _check(
            t.batch_size is None or 1 <= t.batch_size <= MAX_BATCH,
            f"batch size must be from 1 to {MAX_BATCH:,}, or empty for auto (got {t.batch_size}).",
        )
        _check(1 <= t.eval_batch_size <= MAX_BATCH, f"eval batch size must be from 1 to {MAX_BATCH:,}.")
        _check(t.log_every >= 1, "log_every must be at least 1.")
        _check(
            math.isfinite(t.log_seconds) and 0 <= t.log_seconds <= 3600,
            f"log_seconds must be from 0 (off) to 3600 (got {t.log_seconds}).",
        )
        _check(
            0 <= t.quick_test <= MAX_BATCH,
            f"quick_test must be from 0 (off) to {MAX_BATCH:,} images (got {t.quick_test}).",
        )
        _check(t.precision in PRECISIONS, f"precision must be one of {', '.join(PRECISIONS)} (got {t.precision!r}).")
        _check(0 <= t.seed <= MAX_SEED, f"the seed must be a whole number from 0 to 2**63 - 1 (got {t.seed}).")
        _check(
            math.isfinite(o.lr) and o.lr > 0,
            f"learning rate must be a positive number (got {o.lr}); try 1e-3 for Adam or 0.05 for SGD.",
        )
        _check(o.weight_decay is None or o.weight_decay >= 0, f"weight decay must be >= 0 (got {o.weight_decay}).")
        _check(0 <= o.label_smoothing < 1, f"label smoothing must be in [0, 1) (got {o.label_smoothing}).")
        _check(o.grad_clip >= 0, f"gradient clipping must be >= 0, 0 meaning off (got {o.grad_clip}).")
        _check(d.train_limit is None or d.train_limit >= 1, "train_limit must be at least 1.")
        _check(t.target_acc is None or 0 < t.target_acc <= 1, "target accuracy must be in (0, 1].")
        _check(
            t.device == "auto" or t.device == "cpu" or t.device.startswith("cuda"),
            f"device must be auto, cpu or cuda (got {t.device!r}).",
        )
        _check(
            math.isfinite(t.val_fraction) and 0 <= t.val_fraction <= MAX_VAL_FRACTION,
            f"the validation fraction must be from 0 (none) to {MAX_VAL_FRACTION} (got {t.val_fraction}); "
            "the course holds out 0.2.",
        )
        _check(
            isinstance(d.normalize, str) and bool(d.normalize.strip()),
            "normalize must name a normalisation: data, none, fixed:mean=0.5,std=0.5 or imagenet.",
        )
        _check(t.recon_loss in ("mse", "bce"), f"recon_loss must be mse or bce (got {t.recon_loss!r}).")
        if d.noise or d.test_noise:
            # The noise specs themselves are checked by the reconstruct task (``Task.check_config``).
            _check(
                t.task == "reconstruct",
                "noise and test_noise corrupt the inputs of the reconstruct task; "
                "use task 'reconstruct' (or the gaussian_noise augmentation to classify noisy images).",
            )
        return self


_SECTIONS = {"data": DataConfig, "model": ModelConfig, "optim": OptimConfig, "train": TrainConfig}
MAX_SEED = 2**63 - 1  # torch.manual_seed takes up to 64 bits
MAX_EPOCHS = 10_000
MAX_BATCH = 1 << 16
PRECISIONS = ("auto", "fp32", "bf16")
MAX_VAL_FRACTION = 0.9


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


# -- a copy of a config with one setting changed; the settings that differ between configs --


def config_fields(cfg: RunConfig) -> dict[str, Any]:
    """``section.field`` -> value, for every field of the config."""
    return {f"{s}.{k}": v for s, sec in cfg.to_dict().items() for k, v in sec.items()}


def with_change(cfg: RunConfig, path: str, value: Any) -> RunConfig:
    """A copy of ``cfg`` (seed included) with one setting changed. ``path`` is ``section.field``, or
    ``section.field.key`` for one entry of a mapping field (``model.params.dropout``); ``value`` is the new
    value as the field holds it, or text (JSON, or a bare word) for a setting that is not text."""
    section, _, rest = path.partition(".")
    name, _, key = rest.partition(".")
    d = cfg.to_dict()
    if section not in d or name not in d[section] or (key and not isinstance(d[section][name], dict)):
        raise ConfigError(f"No setting {path!r}; choose one of: {', '.join(config_fields(cfg))}.")
    holder, slot = (d[section][name], key) if key else (d[section], name)
    before = holder.get(slot)
    if isinstance(value, str) and not isinstance(before, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            value = value.strip()
    holder[slot] = value
    new = RunConfig.from_dict(d).validate()
    after = new.to_dict()[section][name]
    if (after.get(key) if key else after) == before:
        raise ConfigError(f"{path} is already {json.dumps(before)}; give a different value.")
    return new


def config_diff(configs: Sequence[RunConfig]) -> list[dict[str, Any]]:
    """Settings whose values differ between the configs: [{setting, values: [...]}]."""
    flat = [config_fields(c) for c in configs]
    keys = list(dict.fromkeys(k for f in flat for k in f))
    return [
        {"setting": k, "values": [f.get(k) for f in flat]}
        for k in keys
        if any(f.get(k) != flat[0].get(k) for f in flat[1:])
    ]


def without_server_paths(cfg: RunConfig) -> RunConfig:
    """A copy of ``cfg`` with no folder of the server in it (``data.data_root``, which for an uploaded
    image folder is its owner's upload folder): what a session that only views a run may download.
    The copy still reproduces the run given the data (the script's ``--data``, the default data folder)."""
    return cfg.replace(data={"data_root": None})
