"""Every RunConfig field as a command-line flag, generated from the dataclasses, so the CLI and the app
can never drift apart: ``add_config_flags`` adds them to a subcommand's parser (grouped by section),
``config_from_args`` reads them back over the defaults or a ``--config`` JSON file. Dict-valued fields
take ``key=value`` pairs (values parsed as JSON: ``--model-param channels=[32,64]``).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import MISSING, fields
from typing import Any, Mapping, Sequence

from .config import RunConfig, field_type
from .errors import PlaygroundError

__all__ = ["add_config_flags", "config_from_args", "FLAG_NAMES", "HELP"]

# Fields whose flag is not simply --field-name.
FLAG_NAMES = {
    ("data", "params"): "data-param",
    ("model", "name"): "model",
    ("model", "params"): "model-param",
    ("model", "init_params"): "init-param",
    ("optim", "name"): "optimizer",
    ("optim", "params"): "optim-param",
}
HELP = {
    ("data", "dataset"): "data set name (see `python -m playground list`)",
    ("data", "data_root"): "folder holding the data (default $PLAYGROUND_DATA or ./data); "
    "for image_folder, the image folder itself",
    ("data", "augment"): "augmentations in order, e.g. hflip rotation:10 translate:fraction=0.1",
    ("data", "train_limit"): "train on the first N images only",
    ("train", "epochs"): "passes over the training set (may be fractional, e.g. 1.5)",
    ("train", "batch_size"): "images per step; not given (None): auto, from the training set's size, at least "
    "about 20 steps an epoch and at most 64 images a step",
    ("train", "target_acc"): "stop once the test accuracy reaches this (e.g. 0.99)",
    ("train", "precision"): "auto: bf16 mixed precision on a GPU and on a CPU with AMX bf16 units, fp32 elsewhere; "
    "fp32 or bf16 forces one",
    ("optim", "grad_clip"): "clip the global gradient norm to this (0: off)",
    ("data", "normalize"): "input normalisation: data (the training split's mean and std), none (pixels in [0, 1]), "
    "fixed:mean=0.5,std=0.5 (per channel: mean=0.49/0.48/0.45), imagenet",
    ("train", "val_fraction"): "hold out this fraction of the training images (seeded) to validate each epoch; the "
    "epoch with the lowest validation loss is kept and tested (0: none)",
    ("train", "shuffle"): "a new order of the training images every epoch (--no-shuffle: the stored order)",
    ("train", "quick_test"): "test images of the quick estimate during each epoch (a fixed, seeded subset, every "
    "few seconds, under about 3%% of the time; 0: off)",
}


def _dest(section: str, name: str) -> str:
    return f"{section}__{name}"


def _parse_pairs(pairs: Sequence[str], flag: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise PlaygroundError(f"--{flag} takes key=value (got {pair!r}).")
        try:
            out[key] = json.loads(text)
        except json.JSONDecodeError:
            out[key] = text  # bare words: activation=gelu
    return out


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    defaults = RunConfig()
    for section in fields(RunConfig):
        group = parser.add_argument_group(f"{section.name} settings")
        sec_obj = getattr(defaults, section.name)
        for f in fields(type(sec_obj)):
            flag = FLAG_NAMES.get((section.name, f.name), f.name.replace("_", "-"))
            default = getattr(sec_obj, f.name)
            kw: dict[str, Any] = {
                "dest": _dest(section.name, f.name),
                "default": argparse.SUPPRESS,
                "help": HELP.get((section.name, f.name), ""),
            }
            if isinstance(default, bool):
                kw["action"] = argparse.BooleanOptionalAction
            elif isinstance(default, tuple):
                kw["nargs"] = "*"
            elif isinstance(default, Mapping):
                kw.update(action="append", metavar="KEY=VALUE")
            elif field_type(type(sec_obj), f.name) in (int, float):  # optional numbers too
                kw["type"] = field_type(type(sec_obj), f.name)
            kw["help"] = (kw["help"] + f" (default: {default!r})").strip()
            group.add_argument(f"--{flag}", **kw)


def config_from_args(args: argparse.Namespace) -> RunConfig:
    base = RunConfig()
    if getattr(args, "config", None):
        try:
            with open(args.config, encoding="utf-8") as fh:
                base = RunConfig.from_json(fh.read())
        except OSError as e:
            raise PlaygroundError(f"Cannot read the config file {args.config}: {e.strerror}.") from None
        except UnicodeDecodeError:
            raise PlaygroundError(f"{args.config} is not a text (JSON) config file.") from None
    changes: dict[str, dict[str, Any]] = {}
    for section in fields(RunConfig):
        sec_obj = getattr(base, section.name)
        for f in fields(type(sec_obj)):
            value = getattr(args, _dest(section.name, f.name), MISSING)
            if value is MISSING:
                continue
            default = getattr(sec_obj, f.name)
            if isinstance(default, Mapping):
                flag = FLAG_NAMES.get((section.name, f.name), f.name)
                value = {**default, **_parse_pairs(value, flag)}
            elif isinstance(default, tuple):
                value = tuple(value)
            changes.setdefault(section.name, {})[f.name] = value
    return base.replace(**changes)
