"""The ``style`` subcommand: ``python -m playground style ...`` (its parser is built by
``playground.cli``, which calls ``add_style_args`` and dispatches to ``cmd_style``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from PIL import Image

from playground.errors import ConfigError
from playground.files import output_file

from .images import list_images
from .loop import stylize
from .settings import STARTS, STYLE_OPTIMIZERS, StyleSettings

__all__ = ["add_style_args", "settings_from_args", "cmd_style"]


def _pairs(items: Sequence[str] | None, flag: str) -> dict[str, float] | None:
    if items is None:
        return None
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            out[name] = float(value) if sep else 1.0
        except ValueError:
            raise ConfigError(
                f"--{flag} takes LAYER or LAYER=WEIGHT, e.g. conv_1=1 conv_3=0.5 (got {item!r})."
            ) from None
    return out


def add_style_args(p: argparse.ArgumentParser) -> None:
    d = StyleSettings()
    p.add_argument("--settings", help="a settings JSON (as the page downloads it) to start from; flags override it")
    p.add_argument(
        "--content", help=f"content image: a file or a built-in name ({', '.join(list_images())}); default {d.content}"
    )
    p.add_argument("--style", help=f"style image: a file or a built-in name; default {d.style}")
    p.add_argument("--size", type=int, help=f"long side of the result in pixels, aspect kept (default {d.size})")
    p.add_argument("--steps", type=int, help=f"loss evaluations (default {d.steps})")
    p.add_argument(
        "--backbone",
        help="vgg19 (default), vgg16, or run:<run_id> for a CNN trained in the "
        "playground (works offline; lower quality)",
    )
    p.add_argument("--content-layers", nargs="*", help="default: the backbone's (vgg: conv_4)")
    p.add_argument(
        "--style-layers",
        nargs="*",
        metavar="LAYER[=WEIGHT]",
        help="default: the backbone's (vgg: conv_1 .. conv_5, weight 1 each)",
    )
    p.add_argument("--content-weight", type=float, help=f"default {d.content_weight:g}")
    p.add_argument("--style-weight", type=float, help=f"default {d.style_weight:g}")
    p.add_argument("--tv-weight", type=float, help=f"total-variation weight (default {d.tv_weight:g})")
    p.add_argument("--optimizer", choices=STYLE_OPTIMIZERS.names(), help=f"default {d.optimizer}")
    p.add_argument("--lr", type=float, help="learning rate (default: L-BFGS 1, Adam 0.02)")
    p.add_argument("--init", choices=STARTS, help=f"start from the content image or noise (default {d.init})")
    p.add_argument("--preserve-colour", action=argparse.BooleanOptionalAction, help="keep the content image's colours")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="auto (default), cpu or cuda")
    p.add_argument("--runs", help="run store for run:<id> backbones (default $PLAYGROUND_RUNS or ./runs)")
    p.add_argument("--out", default="style-result.png", help="where the result PNG goes (default style-result.png)")
    p.add_argument("--json", action="store_true", help="last stdout line: final losses, seconds, ... as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def settings_from_args(args: argparse.Namespace) -> StyleSettings:
    base = StyleSettings()
    if args.settings:
        try:
            data = json.loads(Path(args.settings).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ConfigError(f"Cannot read the settings file {args.settings}: {e}.") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{args.settings} does not hold a settings object.")
        base = StyleSettings.from_dict(data.get("settings", data))  # the page's download nests it
    changes = {
        k: getattr(args, k)
        for k in (
            "content",
            "style",
            "size",
            "steps",
            "backbone",
            "content_weight",
            "style_weight",
            "tv_weight",
            "optimizer",
            "lr",
            "init",
            "preserve_colour",
            "seed",
            "device",
        )
        if getattr(args, k) is not None
    }
    if args.content_layers is not None:
        changes["content_layers"] = tuple(args.content_layers)
    if args.style_layers is not None:
        changes["style_layers"] = _pairs(args.style_layers, "style-layers")
    return base.replace(**changes).validate()


def cmd_style(args: argparse.Namespace) -> int:
    s = settings_from_args(args)
    out_path = output_file(args.out, "--out")  # before the work, not after it
    log = sys.stderr if args.json else sys.stdout
    every = max(1, s.steps // 20)
    final: dict[str, Any] = {}
    start: dict[str, Any] = {}
    for e in stylize(None, None, s, preview_every=0, store_root=args.runs):
        kind = e["kind"]
        if kind == "start":
            start = e
            print(
                f"{e['backbone']} on {e['device']}: content {e['size'][1]}x{e['size'][0]}, style "
                f"{e['style_size'][1]}x{e['style_size'][0]}, {e['steps']} steps of {s.optimizer} "
                f"(setup {e['setup_seconds']:.1f} s)",
                file=log,
                flush=True,
            )
            for note in e["notes"]:
                print(f"  note: {note}", file=log, flush=True)
        elif kind == "step":
            if not args.quiet and (e["step"] % every == 0):
                print(
                    f"  step {e['step']:>5}  content {e['content']:.4g}  style {e['style']:.4g}  "
                    f"tv {e['tv']:.4g}  total {e['total']:.4g}  ({e['t']:.1f} s)",
                    file=log,
                    flush=True,
                )
        else:
            final = e
    Image.fromarray(final["image"]).save(out_path, format="PNG")
    kind = final["kind"]
    line = (
        f"{kind}: {final['step']} steps in {final['seconds']:.1f} s, total loss {final['total']:.4g}; wrote {out_path}"
    )
    failed = kind in ("error", "diverged")  # a failure goes to stderr, whatever stdout carries (as train's)
    print(
        line + (f"\n{final['message']}" if "message" in final else ""), file=sys.stderr if failed else log, flush=True
    )
    if args.json:
        result = {
            "status": kind,
            **{
                k: final[k]
                for k in ("content", "style", "tv", "total", "seconds", "seconds_per_step", "step", "size", "device")
            },
            "setup_seconds": start.get("setup_seconds"),
            "backbone": start.get("backbone"),
            "out": str(out_path),
        }
        if "message" in final:
            result["message"] = final["message"]
        print(json.dumps(result), flush=True)
    return {"done": 0, "stopped": 1, "diverged": 1}.get(kind, 2)
