"""Exports that leave the app: ONNX models and a standalone training script.

- ``export_onnx``: the trained model with its input normalisation folded in
  (input: float images in [0, 1], shape (B, C, H, W)), written by PyTorch's
  ONNX exporter and checked against the PyTorch output with onnxruntime.
- ``training_script``: a readable Python file that needs only torch and
  torchvision and rebuilds the run from scratch: the same data set, model
  (source generated from the module tree, so its state dict loads strictly),
  initialisation, optimiser, schedule and training loop.
"""

from __future__ import annotations

import inspect
import json
import pprint
import textwrap
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn as nn

from .config import RunConfig
from .errors import PlaygroundError

__all__ = ["ExportError", "export_onnx", "export_run_onnx", "model_source", "training_script",
           "run_training_script", "run_model"]


class ExportError(PlaygroundError):
    """The model or run cannot be exported in the asked format."""


# -- loading a finished run's model ------------------------------------------------

def run_model(run) -> tuple[nn.Module, dict[str, Any], RunConfig]:
    """(model with the final weights, data meta {shape, classes, mean, std}, config) of a finished run."""
    from .models import build_saved_model

    state = run.load_checkpoint(final=True)
    config = RunConfig.from_dict(state["config"])
    meta = state.get("data")
    if meta is None:
        raise ExportError("This model file predates exports (it lacks the data statistics); "
                          "train the run again to export it.")
    m = config.model
    model = build_saved_model(m.name, in_shape=tuple(meta["shape"]), num_classes=len(meta["classes"]), params=m.params)
    model.load_state_dict(state["model"])
    return model.eval(), meta, config


# -- ONNX ----------------------------------------------------------------------------

class Deployable(nn.Module):
    """The model with normalisation in front: takes images scaled to [0, 1]."""

    def __init__(self, model: nn.Module, mean, std):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x):  # (B, C, H, W) in [0, 1] -> the model's output
        return self.model((x - self.mean) / self.std)


def export_onnx(model: nn.Module, in_shape, mean, std, path: Path | str, *, classes: list[str] | None = None,
                check: bool = True) -> dict[str, Any]:
    """Write ``model`` (normalisation included) as ONNX; with ``check``, run the file with
    onnxruntime on random images and report the largest difference from PyTorch."""
    path = Path(path)
    net = Deployable(model.float().cpu(), mean, std).eval()
    x = torch.rand(4, *in_shape)  # (B, C, H, W) in [0, 1]
    try:
        program = torch.onnx.export(net, (x,), dynamo=True, input_names=["images"], output_names=["output"],
                                    dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=4096)},),
                                    verbose=False)
    except ImportError as e:
        raise ExportError(f"ONNX export needs the onnx and onnxscript packages ({e}); "
                          "pip install -r requirements.txt.") from None
    except Exception as e:
        raise ExportError(f"This model could not be exported to ONNX ({type(e).__name__}: {str(e)[:300]}).") from None
    if classes:
        program.model.metadata_props["classes"] = json.dumps(classes)
    program.model.metadata_props["input"] = "float32 images (B, C, H, W) scaled to [0, 1]"
    tmp = path.with_suffix(".onnx.part")
    program.save(str(tmp))
    tmp.replace(path)
    report: dict[str, Any] = {"path": str(path), "bytes": path.stat().st_size}
    if check:
        report["max_abs_diff"] = onnx_parity(net, path, x)
    return report


def onnx_parity(net: nn.Module, path: Path, x: torch.Tensor) -> float:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"images": x.numpy()})
    with torch.no_grad():
        ref = net(x)
    return float((torch.from_numpy(out) - ref).abs().max())


def export_run_onnx(run) -> dict[str, Any]:
    """runs/<id>/model.onnx from the run's final model, checked with onnxruntime."""
    model, meta, _ = run_model(run)
    return export_onnx(model, tuple(meta["shape"]), meta["mean"], meta["std"], run.dir / "model.onnx",
                       classes=meta["classes"])


# -- model source ---------------------------------------------------------------------
# Standard torch.nn layers print their constructor arguments in extra_repr
# ("3, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False"), so they are
# written as calls; a container of the playground's own (CNN, Residual, ...) becomes a
# class with its children as constructor arguments and its forward() copied verbatim.
# Tests check that the original state dict loads strictly and the outputs agree.

_SIMPLE = (int, float, bool, str, type(None))


def _is_torch_nn(mod: nn.Module) -> bool:
    return type(mod).__module__.startswith("torch.nn")


def _plain_attrs(mod: nn.Module) -> dict[str, Any]:
    return {k: v for k, v in vars(mod).items() if not k.startswith("_") and k != "training"
            and (isinstance(v, _SIMPLE) or (isinstance(v, tuple) and all(isinstance(e, _SIMPLE) for e in v)))}


class _SourceWriter:
    def __init__(self) -> None:
        self.classes: dict[tuple, str] = {}  # structure key -> class name
        self.class_src: list[str] = []

    def expr(self, mod: nn.Module, indent: int = 0) -> str:
        pad = " " * (indent + 4)
        children = list(mod.named_children())
        if hasattr(mod, "script_expr"):  # a module that knows how to be rebuilt (e.g. a torchvision backbone)
            return mod.script_expr()
        if _is_torch_nn(mod):
            kind = type(mod).__name__
            if isinstance(mod, nn.Sequential):
                if all(n.isdigit() for n, _ in children):
                    inner = "".join(f"{pad}{self.expr(c, indent + 4)},\n" for _, c in children)
                    return f"nn.Sequential(\n{inner}{' ' * indent})" if children else "nn.Sequential()"
                inner = "".join(f"{pad}({n!r}, {self.expr(c, indent + 4)}),\n" for n, c in children)
                return f"nn.Sequential(OrderedDict([\n{inner}{' ' * indent}]))"
            if isinstance(mod, nn.ModuleList):
                inner = "".join(f"{pad}{self.expr(c, indent + 4)},\n" for _, c in children)
                return f"nn.ModuleList([\n{inner}{' ' * indent}])"
            if children:
                raise ExportError(f"{kind} (a torch.nn container) cannot be written as source yet.")
            return f"nn.{kind}({mod.extra_repr()})"
        return self._custom(mod, children, indent)

    def _custom(self, mod: nn.Module, children, indent: int) -> str:
        cls = type(mod)
        attrs = _plain_attrs(mod)
        params = {n: tuple(p.shape) for n, p in mod.named_parameters(recurse=False)}
        buffers = {n: (tuple(b.shape), b.dtype) for n, b in mod.named_buffers(recurse=False)}
        key = (cls, tuple(n for n, _ in children), tuple(sorted(attrs)), tuple(params), tuple(buffers))
        if key not in self.classes:
            name = cls.__name__ if cls.__name__ not in self.classes.values() else f"{cls.__name__}{len(self.classes)}"
            self.classes[key] = name
            self.class_src.append(self._class_def(name, cls, [n for n, _ in children], list(attrs), params, buffers))
        name = self.classes[key]
        pad = " " * (indent + 4)
        args = [f"{pad}{n}={self.expr(c, indent + 4)},\n" for n, c in children]
        args += [f"{pad}{k}={v!r},\n" for k, v in attrs.items()]
        return f"{name}(\n{''.join(args)}{' ' * indent})" if args else f"{name}()"

    @staticmethod
    def _class_def(name: str, cls: type, child_names: list[str], attr_names: list[str], params, buffers) -> str:
        # forward() and the helper methods it may call (encode, decode, ...), down the class's own MRO.
        methods: dict[str, str] = {}
        for base in cls.__mro__:
            if base is nn.Module or not issubclass(base, nn.Module) or base.__module__.startswith("torch."):
                break
            for k, v in vars(base).items():
                if inspect.isfunction(v) and k != "__init__" and k not in methods:
                    try:
                        methods[k] = textwrap.dedent(inspect.getsource(v))
                    except (OSError, TypeError):
                        raise ExportError(f"The source of {cls.__name__}.{k} is not available.") from None
        fwd = "\n".join(methods.values())
        args = ", ".join(child_names + attr_names)
        body = ["super().__init__()"]
        body += [f"self.{n} = {n}" for n in child_names + attr_names]
        body += [f"self.{n} = nn.Parameter(torch.empty({shape}))  # values come from the state dict"
                 for n, shape in params.items()]
        body += [f"self.register_buffer({n!r}, torch.empty({shape}, dtype={dtype}))" for n, (shape, dtype) in buffers.items()]
        doc = (inspect.getdoc(cls) or "").split("\n")[0]
        lines = [f"class {name}(nn.Module):"]
        if doc:
            lines.append(f'    """{doc}"""')
        lines += ["", f"    def __init__(self{', ' + args if args else ''}):"]
        lines += [f"        {b}" for b in body]
        lines += [""] + [f"    {ln}" if ln else "" for ln in fwd.rstrip().split("\n")]
        return "\n".join(lines)


def model_source(model: nn.Module, func_name: str = "build_model") -> str:
    """Python source (torch only) with a ``build_model()`` that rebuilds ``model``'s structure."""
    w = _SourceWriter()
    body = w.expr(model, 4)
    parts = w.class_src + [f"def {func_name}() -> nn.Module:\n    return {body}"]
    return "\n\n\n".join(parts) + "\n"


# -- the rest of the script: one emitter per registry entry ------------------------------
# Each table is checked against its registry in the tests, so a new data set,
# augmentation, initialisation or schedule without an emitter fails loudly there.

def _data_torchvision(cls: str) -> Callable[..., str]:
    def emit(**params: Any) -> str:
        return textwrap.dedent(f"""\
            def load_data(root):
                \"\"\"{cls} from torchvision (downloaded into root when missing) as uint8 (N, C, H, W) tensors.\"\"\"
                out = []
                for train in (True, False):
                    ds = torchvision.datasets.{cls}(root, train=train, download=True)
                    x = torch.as_tensor(ds.data)
                    x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)  # (N, C, H, W)
                    out += [x.contiguous(), torch.as_tensor(ds.targets, dtype=torch.int64)]
                return (*out, list(ds.classes))
            """)
    return emit


def _data_shapes(**params: Any) -> str:
    from .data import shapes as shapes_mod

    src = inspect.getsource(shapes_mod)
    gen = src[src.index("Mask = Callable"):src.index("@register_dataset")].rstrip()  # the pure-torch drawing code
    n_train, n_test = params.get("n_train", 8000), params.get("n_test", 2000)
    size, seed = params.get("size", 32), params.get("seed", 0)
    return (
        "# The playground's built-in 'shapes' data set, drawn exactly as the playground draws it.\n"
        + gen + "\n\n\n"
        + textwrap.dedent(f"""\
            def load_data(root):
                tx, ty = make_shapes({n_train}, seed={seed}, size={size})
                vx, vy = make_shapes({n_test}, seed={seed + 1_000_003}, size={size})
                return tx, ty, vx, vy, SHAPE_CLASSES
            """))


def _data_image_folder(**params: Any) -> str:
    size, mode = params.get("image_size", 32), params.get("mode", "auto")
    frac, seed = params.get("test_fraction", 0.2), params.get("seed", 0)
    convert = {"L": "v2.Grayscale()", "RGB": "v2.RGB()"}.get(mode, "v2.RGB()")
    return textwrap.dedent(f"""\
        def load_data(root):
            \"\"\"An ImageFolder (class/xxx.jpg, optionally under train/ and test/), resized and centre-cropped
            to {size}x{size}, as uint8 (N, C, H, W) tensors.\"\"\"
            import os
            tf = v2.Compose([v2.PILToTensor(), {convert}, v2.Resize({size}, antialias=True), v2.CenterCrop({size})])

            def stack(ds):
                xs, ys = zip(*(ds[i] for i in range(len(ds))))
                return torch.stack(xs), torch.tensor(ys, dtype=torch.int64)

            if os.path.isdir(os.path.join(root, "train")):
                train = torchvision.datasets.ImageFolder(os.path.join(root, "train"), transform=tf)
                test = torchvision.datasets.ImageFolder(os.path.join(root, "test"), transform=tf)
                (tx, ty), (vx, vy) = stack(train), stack(test)
                return tx, ty, vx, vy, train.classes
            ds = torchvision.datasets.ImageFolder(root, transform=tf)
            x, y = stack(ds)
            g = torch.Generator().manual_seed({seed})
            is_test = torch.zeros(len(y), dtype=torch.bool)
            for k in range(len(ds.classes)):  # stratified hold-out of {frac:.0%} per class
                idx = (y == k).nonzero().squeeze(1)
                idx = idx[torch.randperm(len(idx), generator=g)]
                is_test[idx[: int(round(len(idx) * {frac}))]] = True
            order = torch.randperm(int((~is_test).sum()), generator=torch.Generator().manual_seed({seed}))
            return x[~is_test][order], y[~is_test][order], x[is_test], y[is_test], ds.classes
        """)


DATA_EMITTERS: dict[str, Callable[..., str]] = {
    "mnist": _data_torchvision("MNIST"), "fashion_mnist": _data_torchvision("FashionMNIST"),
    "cifar10": _data_torchvision("CIFAR10"), "shapes": _data_shapes, "image_folder": _data_image_folder,
}

# Our batched augmentations and their torchvision.transforms.v2 counterparts (applied per image).
AUGMENT_EMITTERS: dict[str, Callable[..., str]] = {
    "hflip": lambda p=0.5: f"v2.RandomHorizontalFlip(p={p})",
    "vflip": lambda p=0.5: f"v2.RandomVerticalFlip(p={p})",
    "rotation": lambda degrees=15.0: f"v2.RandomRotation(degrees={degrees})",
    "translate": lambda fraction=0.1: f"v2.RandomAffine(degrees=0, translate=({fraction}, {fraction}))",
    "scale": lambda min=0.9, max=1.1: f"v2.RandomAffine(degrees=0, scale=({min}, {max}))",  # noqa: A002
    "random_resized_crop": lambda scale=(0.5, 1.0), ratio=(3 / 4, 4 / 3):
        f"v2.RandomResizedCrop(size=IMAGE_SIZE, scale={tuple(scale)}, ratio={tuple(ratio)}, antialias=True)",
    "color_jitter": lambda brightness=0.3, contrast=0.3, saturation=0.3:
        f"v2.ColorJitter(brightness={brightness}, contrast={contrast}, saturation={saturation})",
    "gaussian_noise": lambda std=0.1: f"v2.GaussianNoise(sigma={std}, clip=True)",
    "erasing": lambda p=0.5, scale=(0.02, 0.2), ratio=(0.3, 3.3):
        f"v2.RandomErasing(p={p}, scale={tuple(scale)}, ratio={tuple(ratio)})",
    "cutout": lambda size=0.25, p=1.0: f"v2.RandomErasing(p={p}, scale=({size ** 2:.6g}, {size ** 2:.6g}), ratio=(1.0, 1.0))",
}

# Weight initialisations as nn.init calls on each conv/linear weight ``w``.
INIT_EMITTERS: dict[str, Callable[..., str | None]] = {
    "default": lambda: None,
    "zeros": lambda: "nn.init.zeros_(w)",
    "constant": lambda value=0.05: f"nn.init.constant_(w, {value})",
    "uniform": lambda a=-0.05, b=0.05: f"nn.init.uniform_(w, {a}, {b})",
    "normal": lambda mean=0.0, std=0.01: f"nn.init.normal_(w, {mean}, {std})",
    "xavier_uniform": lambda gain=1.0: f"nn.init.xavier_uniform_(w, gain={gain})",
    "xavier_normal": lambda gain=1.0: f"nn.init.xavier_normal_(w, gain={gain})",
    "kaiming_uniform": lambda nonlinearity="relu", mode="fan_in":
        f"nn.init.kaiming_uniform_(w, mode={mode!r}, nonlinearity={nonlinearity!r})",
    "kaiming_normal": lambda nonlinearity="relu", mode="fan_in":
        f"nn.init.kaiming_normal_(w, mode={mode!r}, nonlinearity={nonlinearity!r})",
    "orthogonal": lambda gain=1.0: f"nn.init.orthogonal_(w, gain={gain})",
}


def _optimizer_expr(config: RunConfig) -> str:
    """The exact torch.optim call: built through the playground's registry, then read back."""
    from .optim import build_optimizer

    o = config.optim
    opt = build_optimizer(o.name, [nn.Parameter(torch.zeros(1))], lr=o.lr, weight_decay=o.weight_decay,
                          **dict(o.params))
    cls = type(opt)
    sig = inspect.signature(cls.__init__).parameters
    args = [f"lr={o.lr!r}"]
    for k, v in opt.defaults.items():
        if k == "lr" or k not in sig or (sig[k].default is not inspect.Parameter.empty and sig[k].default == v):
            continue
        args.append(f"{k}={v!r}")
    return f"torch.optim.{cls.__name__}(params, {', '.join(args)})"


SCHEDULE_EMITTERS: dict[str, Callable[..., str]] = {
    "constant": lambda: "None",
    "step": lambda every_epochs=1.0, gamma=0.1:
        f"torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, round({every_epochs} * steps_per_epoch)), gamma={gamma})",
    "cosine": lambda min_lr_ratio=0.0:
        f"torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, total_steps), eta_min=LR * {min_lr_ratio})",
    "onecycle": lambda pct_start=0.25, div_factor=25.0, final_div_factor=1e4:
        (f"torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=max(2, total_steps), "
         f"pct_start={pct_start}, div_factor={div_factor}, final_div_factor={final_div_factor})"),
}


def _transfer_source(model: nn.Module) -> str:
    """A TransferNet as torchvision code: get_model + weights, the head replaced, blocks frozen.
    Its state-dict keys match the playground's (preprocess.*, backbone.*)."""
    spec = model.spec
    trainable = [n for label, names in spec.blocks if label in set(model.trainable_blocks()) for n in names]
    frozen = [n for label, names in spec.blocks if label not in set(model.trainable_blocks()) for n in names]
    if model.weights_source == "imagenet":
        weights = f'torchvision.models.get_model_weights("{spec.arch}").DEFAULT  # downloaded into the torch hub cache'
    else:
        weights = "None  # " + ("from scratch" if model.weights_source == "none" else
                                "the source run's weights: load its model.pt state dict after building")
    pre = model.preprocess
    return f'''class Preprocess(nn.Module):
    """[0, 1] images -> grey as RGB, resized to {pre.size} px, normalised as the weights' transforms do."""

    def __init__(self):
        super().__init__()
        self.size = {pre.size}
        self.register_buffer("mean", torch.tensor({[round(float(v), 6) for v in pre.mean.flatten()]}).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor({[round(float(v), 6) for v in pre.std.flatten()]}).view(1, 3, 1, 1))

    def forward(self, x):  # (B, C, H, W) -> (B, 3, size, size)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if tuple(x.shape[-2:]) != (self.size, self.size):
            x = v2.functional.resize(x, [self.size, self.size], antialias=True)
        return (x - self.mean) / self.std


class TransferNet(nn.Module):
    """{spec.arch} from torchvision, its final layer replaced by a new head."""

    def __init__(self):
        super().__init__()
        self.preprocess = Preprocess()
        weights = {weights}
        self.backbone = torchvision.models.get_model("{spec.arch}", weights=weights)
        old = self.backbone.get_submodule("{spec.head}")  # {model.replaced["old"]}
        self.backbone.set_submodule("{spec.head}", nn.Linear(old.in_features, {model.head.out_features}))
        # Freezing ({model.freeze_mode}): frozen blocks get no gradients and stay in eval mode.
        self.frozen = {frozen!r}
        self.backbone.requires_grad_(False)
        for name in {trainable!r} + ["{spec.head}"]:
            self.backbone.get_submodule(name).requires_grad_(True)

    def train(self, mode=True):
        super().train(mode)
        for name in self.frozen:
            self.backbone.get_submodule(name).eval()
        return self

    def param_groups(self, lr):
        """The head at lr, the trainable rest of the backbone at lr * {model.backbone_lr_scale}."""
        head = list(self.backbone.get_submodule("{spec.head}").parameters())
        ids = {{id(p) for p in head}}
        body = [p for p in self.backbone.parameters() if p.requires_grad and id(p) not in ids]
        return [{{"params": head, "lr": lr}}] + ([{{"params": body, "lr": lr * {model.backbone_lr_scale}}}] if body else [])

    def forward(self, x):  # (B, C, H, W) in [0, 1] -> (B, classes)
        return self.backbone(self.preprocess(x))


def build_model() -> nn.Module:
    return TransferNet()
'''


# Models that are not built from the playground's own modules, by registry name.
MODEL_EMITTERS: dict[str, Callable[[nn.Module], str]] = {"transfer": _transfer_source}


def _call(table: dict[str, Callable[..., Any]], name: str, params: dict, what: str) -> Any:
    if name not in table:
        raise ExportError(f"The standalone script does not know the {what} {name!r} yet.")
    return table[name](**params)


def _tv_version() -> str:
    import torchvision

    return torchvision.__version__.split("+")[0]


def training_script(config: RunConfig, *, in_shape, num_classes: int, run_id: str | None = None) -> str:
    """A standalone, readable training script (torch + torchvision only) for ``config``."""
    from .data.augment import parse_spec
    from .models import build_model

    d, m, o, t = config.data, config.model, config.optim, config.train
    if t.task != "classify":
        raise ExportError(f"The standalone script covers classification runs; this run's task is {t.task!r}.")
    model = build_model(m.name, in_shape=tuple(in_shape), num_classes=num_classes, **dict(m.params))
    data_src = _call(DATA_EMITTERS, d.dataset, dict(d.params), "data set")
    augs = [_call(AUGMENT_EMITTERS, *parse_spec(s), "augmentation") for s in d.augment]
    init = _call(INIT_EMITTERS, m.init, dict(m.init_params), "initialisation")
    sched = _call(SCHEDULE_EMITTERS, o.schedule, dict(o.schedule_params), "schedule")
    aug_src = ("v2.Compose([\n" + "".join(f"    {a},\n" for a in augs) + "])") if augs else "None"
    init_body = (f"""    for mod in model.modules():
        if isinstance(mod, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            w = mod.weight
            {init}
            if mod.bias is not None:
                nn.init.zeros_(mod.bias)""" if init else
                 "    pass  # 'default': PyTorch's own per-layer initialisation")
    root = repr(d.data_root) if d.data_root else '"./data"'
    title = f"CNN Playground run {run_id}" if run_id else "a CNN Playground run"
    header = f'''#!/usr/bin/env python3
"""Trains {title} from scratch: {d.dataset}, {m.name}, {o.name} (lr {o.lr:g}), {t.epochs:g} epochs.

Written by CNN Playground (torch {torch.__version__.split("+")[0]}, torchvision {_tv_version()}) from the run's
settings; needs only torch and torchvision:

    pip install torch torchvision
    python {(run_id or "train")}.py [--data FOLDER] [--epochs N] [--device cpu|cuda]

Same data set, model, initialisation, optimiser, schedule and loop as the playground.
The playground runs augmentations batched on the device; here they are torchvision's
per-image transforms, so random draws (not their distribution) differ.
"""

import argparse
import math
import time
from collections import OrderedDict
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.transforms import v2

# The run's settings, for reference (everything below is written out from them).
SETTINGS = {pprint.pformat(config.to_dict(), width=100, sort_dicts=False)}

LR = {o.lr!r}
IMAGE_SIZE = {list(in_shape[1:])}
'''
    main = f'''
def init_weights(model: nn.Module) -> None:
    """Initialisation: {m.init}; biases start at zero (except for 'default')."""
    with torch.no_grad():
{textwrap.indent(init_body, "    ")}


AUGMENT = {aug_src}


def augment(x: torch.Tensor) -> torch.Tensor:
    """Per-image random augmentation of a float batch in [0, 1]: (B, C, H, W) -> same."""
    if AUGMENT is None:
        return x
    return torch.stack([AUGMENT(img) for img in x])


@torch.no_grad()
def evaluate(model, x_u8, y, mean, std, device, batch_size={t.eval_batch_size}):
    model.eval()
    correct, loss = 0, 0.0
    for i in range(0, len(y), batch_size):
        x = ((x_u8[i : i + batch_size].to(device).float() / 255) - mean) / std
        out = model(x)
        loss += F.cross_entropy(out, y[i : i + batch_size].to(device), reduction="sum").item()
        correct += (out.argmax(1).cpu() == y[i : i + batch_size]).sum().item()
    model.train()
    return loss / len(y), correct / len(y)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\\n")[0])
    ap.add_argument("--data", default={root}, help="data folder")
    ap.add_argument("--epochs", type=float, default={t.epochs!r})
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out", default="model.pt", help="where the trained weights go")
    args = ap.parse_args()
    device = torch.device(args.device)

    train_x, train_y, test_x, test_y, classes = load_data(args.data)
    train_x, train_y = train_x[:{d.train_limit!r}], train_y[:{d.train_limit!r}]
    # Normalisation statistics from the training split.
    xf = train_x.double() / 255
    mean = xf.mean(dim=(0, 2, 3)).float().view(1, -1, 1, 1).to(device)
    std = xf.std(dim=(0, 2, 3)).clamp_min(1e-6).float().view(1, -1, 1, 1).to(device)
    del xf
{"    # The model normalises its own input (the weights' statistics): it gets images in [0, 1]." + chr(10) +
 ("    data_mean, data_std = mean.expand(1, 3, 1, 1).clone(), std.expand(1, 3, 1, 1).clone()" + chr(10)
  if getattr(model, "stats_from_data", False) else "") +
 "    mean, std = torch.zeros_like(mean), torch.ones_like(mean)" + chr(10) if hasattr(model, "preprocess") else ""}
    torch.manual_seed({t.seed})
    model = build_model()
    init_weights(model)
    {"model.preprocess.mean.copy_(data_mean); model.preprocess.std.copy_(data_std)  # from scratch: the data's statistics"
     if getattr(model, "stats_from_data", False) else "# (initial weights as built)"}
    model = model.to(device)
    # A model may give per-group learning rates; frozen parameters never reach the optimiser.
    params = model.param_groups(LR) if hasattr(model, "param_groups") else \\
        [p for p in model.parameters() if p.requires_grad]
    opt = {_optimizer_expr(config)}
    batch_size = {t.batch_size}
    steps_per_epoch = len(train_y) // batch_size
    total_steps = max(1, round(args.epochs * steps_per_epoch))
    sched = {sched}
    print(f"{{len(train_y)}} training images, {{sum(p.numel() for p in model.parameters()):,}} parameters, "
          f"{{total_steps}} steps on {{device}}")

    g = torch.Generator().manual_seed({t.seed})
    step, t0 = 0, time.time()
    for epoch in range(math.ceil(total_steps / steps_per_epoch)):
        perm = torch.randperm(len(train_y), generator=g)
        for i in range(min(steps_per_epoch, total_steps - step)):
            idx = perm[i * batch_size : (i + 1) * batch_size]
            x = augment(train_x[idx].float() / 255).to(device)  # (B, C, H, W) in [0, 1]
            x = (x - mean) / std
            y = train_y[idx].to(device)
            loss = F.cross_entropy(model(x), y, label_smoothing={o.label_smoothing!r})
            opt.zero_grad(set_to_none=True)
            loss.backward()
            {f"nn.utils.clip_grad_norm_(model.parameters(), {o.grad_clip!r})" if o.grad_clip > 0 else "# (no gradient clipping)"}
            opt.step()
            if sched is not None:
                sched.step()
            step += 1
        test_loss, test_acc = evaluate(model, test_x, test_y, mean, std, device)
        print(f"epoch {{epoch + 1}}: train loss {{loss.item():.4f}}, test loss {{test_loss:.4f}}, "
              f"test accuracy {{test_acc:.4f}} ({{time.time() - t0:.1f}} s)")
    torch.save(model.state_dict(), args.out)
    print(f"saved {{args.out}}")


if __name__ == "__main__":
    main()
'''
    model_src = MODEL_EMITTERS[m.name](model) if m.name in MODEL_EMITTERS else model_source(model)
    return "\n".join([header, data_src.rstrip() + "\n\n", model_src.rstrip() + "\n\n", main.lstrip("\n")])


def run_training_script(run) -> str:
    """The standalone script of a finished (or stopped) run."""
    if not run.model_path.exists():
        raise ExportError("The script is written from the run's final model file; stop the run or let it finish.")
    state = run.load_checkpoint(final=True)
    meta = state.get("data")
    if meta is None:
        raise ExportError("This model file predates exports; train the run again to export it.")
    return training_script(RunConfig.from_dict(state["config"]), in_shape=tuple(meta["shape"]),
                           num_classes=len(meta["classes"]), run_id=run.run_id)
