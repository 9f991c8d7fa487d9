"""What the standalone script writes for each registry entry: one emitter per data set,
augmentation, initialisation, optimiser and schedule, and for models that are not built
from the playground's own modules.

Each table is checked against its registry in the tests, so a new data set,
augmentation, initialisation or schedule without an emitter fails loudly there.
"""

from __future__ import annotations

import inspect
import textwrap
from types import FunctionType
from typing import Any, Callable

import torch
import torch.nn as nn

from ..config import RunConfig
from ..data import shapes as shapes_module
from ..errors import ExportError
from ..train.optim import build_optimizer
from .source import transfer_source

__all__ = [
    "AUGMENT_EMITTERS",
    "DATA_EMITTERS",
    "INIT_EMITTERS",
    "MODEL_EMITTERS",
    "SCHEDULE_EMITTERS",
    "emit",
    "optimizer_expr",
    "shapes_drawing_source",
]


# -- data sets: a load_data(root) -> (train_x, train_y, test_x, test_y, classes) each ---------


def _data_torchvision(cls: str) -> Callable[..., str]:
    def load_data_source(**params: Any) -> str:
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

    return load_data_source


def _names(code) -> set[str]:
    """The global names a function's code (nested functions and comprehensions included) refers to."""
    out = set(code.co_names)
    for c in code.co_consts:
        if inspect.iscode(c):
            out |= _names(c)
    return out


def shapes_drawing_source() -> str:
    """The pure-torch code that draws the 'shapes' data set, read from playground.data.shapes: the
    functions ``make_shapes`` reaches (the mask functions through the class -> mask table), in source
    order, with the table and the module constants they read written out after the mask functions.
    Never the module's cache or data-set factory: the script draws, it does not read the playground's files."""
    module = vars(shapes_module)
    masks = shapes_module.SHAPES
    wanted: dict[str, FunctionType] = {}
    # The ignore: typeshed's builtins.function (a def's type) is not types.FunctionType, its class at run time.
    todo: list[FunctionType] = [shapes_module.make_shapes, *masks.values()]  # type: ignore[list-item]
    consts = {}
    while todo:
        f = todo.pop()
        if f.__name__ in wanted:
            continue
        wanted[f.__name__] = f
        for name in _names(f.__code__):
            v = module.get(name)
            if inspect.isfunction(v) and v.__module__ == shapes_module.__name__:
                todo.append(v)
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                consts[name] = v
    funcs = sorted(wanted.values(), key=lambda f: f.__code__.co_firstlineno)
    last_mask = max(f.__code__.co_firstlineno for f in masks.values())
    table = (
        "SHAPES = {  # class name -> mask (u, v) -> bool, u/v in shape units\n"
        + "".join(f'    "{name}": {fn.__name__},\n' for name, fn in masks.items())
        + "}\nSHAPE_CLASSES = list(SHAPES)"
        + "".join(f"\n{name} = {value!r}" for name, value in sorted(consts.items()))
    )
    before = [inspect.getsource(f).rstrip() for f in funcs if f.__code__.co_firstlineno <= last_mask]
    after = [inspect.getsource(f).rstrip() for f in funcs if f.__code__.co_firstlineno > last_mask]
    return "\n\n\n".join(before + [table] + after)


def _data_shapes(**params: Any) -> str:
    n_train, n_test = params.get("n_train", 8000), params.get("n_test", 2000)
    size, seed = params.get("size", 32), params.get("seed", 0)
    return (
        "# The playground's built-in 'shapes' data set, drawn exactly as the playground draws it.\n"
        + shapes_drawing_source()
        + "\n\n\n"
        + textwrap.dedent(f"""\
            def load_data(root):
                tx, ty = make_shapes({n_train}, seed={seed}, size={size})
                vx, vy = make_shapes({n_test}, seed={seed + 1_000_003}, size={size})
                return tx, ty, vx, vy, SHAPE_CLASSES
            """)
    )


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
                classes = train.classes
            else:
                ds = torchvision.datasets.ImageFolder(root, transform=tf)
                x, y = stack(ds)
                g = torch.Generator().manual_seed({seed})
                is_test = torch.zeros(len(y), dtype=torch.bool)
                for k in range(len(ds.classes)):  # stratified hold-out of {frac:.0%} per class
                    idx = (y == k).nonzero().squeeze(1)
                    idx = idx[torch.randperm(len(idx), generator=g)]
                    is_test[idx[: int(round(len(idx) * {frac}))]] = True
                tx, ty, vx, vy, classes = x[~is_test], y[~is_test], x[is_test], y[is_test], ds.classes
            # Files come class by class: shuffle the training images once (seeded), so the first N have every class.
            order = torch.randperm(len(ty), generator=torch.Generator().manual_seed({seed}))
            return tx[order], ty[order], vx, vy, classes
        """)


def _data_subset(
    of: str = "shapes", classes: Any = "0-4", per_class: int = 0, test_per_class: int = 0, seed: int = 0, **params: Any
) -> str:
    """The base data set's loader, then the same classes and the same seeded draw as playground.data.subset."""
    from ..data.subset import parse_classes

    chosen = parse_classes(classes, 10**6)
    base = DATA_EMITTERS[of](**params).replace("def load_data(root):", "def load_base_data(root):", 1)
    return (
        base
        + "\n\n"
        + textwrap.dedent(f"""\
        def load_data(root):
            \"\"\"Classes {chosen} of {of} (labels renumbered 0..{len(chosen) - 1}), {per_class or "all"} training and
            {test_per_class or "all"} test images of each (a seeded draw).\"\"\"
            tx, ty, vx, vy, classes = load_base_data(root)
            g = torch.Generator().manual_seed({seed})

            def pick(x, y, few):
                idx, labels = [], []
                for new, c in enumerate({chosen}):
                    where = (y == c).nonzero().flatten()
                    if few:
                        where = where[torch.randperm(len(where), generator=g)[:few]].sort().values
                    idx.append(where)
                    labels.append(torch.full((len(where),), new, dtype=torch.int64))
                order = torch.cat(idx).argsort()
                return x[torch.cat(idx)[order]].contiguous(), torch.cat(labels)[order]

            (tx, ty), (vx, vy) = pick(tx, ty, {per_class}), pick(vx, vy, {test_per_class})
            return tx, ty, vx, vy, [classes[c] for c in {chosen}]
        """)
    )


DATA_EMITTERS: dict[str, Callable[..., str]] = {
    "mnist": _data_torchvision("MNIST"),
    "fashion_mnist": _data_torchvision("FashionMNIST"),
    "cifar10": _data_torchvision("CIFAR10"),
    "shapes": _data_shapes,
    "image_folder": _data_image_folder,
    "subset": _data_subset,
}


# -- augmentations, initialisations, optimiser, schedules --------------------------------

# The playground's batched augmentations and their torchvision.transforms.v2 counterparts (applied per image).
AUGMENT_EMITTERS: dict[str, Callable[..., str]] = {
    "hflip": lambda p=0.5: f"v2.RandomHorizontalFlip(p={p})",
    "vflip": lambda p=0.5: f"v2.RandomVerticalFlip(p={p})",
    "rotation": lambda degrees=15.0, interpolation="bilinear": (
        f"v2.RandomRotation(degrees={degrees}, interpolation=v2.InterpolationMode.{interpolation.upper()})"
    ),
    "translate": lambda fraction=0.1: f"v2.RandomAffine(degrees=0, translate=({fraction}, {fraction}))",
    "scale": lambda min=0.9, max=1.1: f"v2.RandomAffine(degrees=0, scale=({min}, {max}))",
    "random_resized_crop": lambda scale=(0.5, 1.0), ratio=(3 / 4, 4 / 3): (
        f"v2.RandomResizedCrop(size=IMAGE_SIZE, scale={tuple(scale)}, ratio={tuple(ratio)}, antialias=True)"
    ),
    "color_jitter": lambda brightness=0.3,
    contrast=0.3,
    saturation=0.3: f"v2.ColorJitter(brightness={brightness}, contrast={contrast}, saturation={saturation})",
    "gaussian_noise": lambda std=0.1: f"v2.GaussianNoise(sigma={std}, clip=True)",
    "erasing": lambda p=0.5,
    scale=(0.02, 0.2),
    ratio=(0.3, 3.3): f"v2.RandomErasing(p={p}, scale={tuple(scale)}, ratio={tuple(ratio)})",
    "cutout": lambda size=0.25,
    p=1.0: f"v2.RandomErasing(p={p}, scale=({size**2:.6g}, {size**2:.6g}), ratio=(1.0, 1.0))",
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
    "kaiming_uniform": lambda nonlinearity="relu",
    mode="fan_in": f"nn.init.kaiming_uniform_(w, mode={mode!r}, nonlinearity={nonlinearity!r})",
    "kaiming_normal": lambda nonlinearity="relu",
    mode="fan_in": f"nn.init.kaiming_normal_(w, mode={mode!r}, nonlinearity={nonlinearity!r})",
    "orthogonal": lambda gain=1.0: f"nn.init.orthogonal_(w, gain={gain})",
    "uniform_01": lambda: "nn.init.uniform_(w, 0.0, 1.0)",
    "uniform_centered": lambda: "nn.init.uniform_(w, -0.5, 0.5)",
    "uniform_rule": lambda: "nn.init.uniform_(w, -1 / w[0].numel() ** 0.5, 1 / w[0].numel() ** 0.5)  # y = 1/sqrt(n)",
    "normal_rule": lambda: "nn.init.normal_(w, 0.0, 1 / w[0].numel() ** 0.5)  # std 1/sqrt(n)",
}


def optimizer_expr(config: RunConfig) -> str:
    """The exact torch.optim call: built through the playground's registry, then read back."""
    o = config.optim
    opt = build_optimizer(
        o.name, [nn.Parameter(torch.zeros(1))], lr=o.lr, weight_decay=o.weight_decay, **dict(o.params)
    )
    cls = type(opt)
    sig = inspect.signature(cls.__init__).parameters
    args = [f"lr={o.lr!r}"]
    for k, v in opt.defaults.items():
        # fused: the playground's kernel on the CPU or CUDA; kept, since it rounds differently from the default
        # (for-each) kernel and the script replays the run's losses
        if k == "lr" or k not in sig or (sig[k].default is not inspect.Parameter.empty and sig[k].default == v):
            continue
        args.append(f"{k}={v!r}")
    return f"torch.optim.{cls.__name__}(params, {', '.join(args)})"


SCHEDULE_EMITTERS: dict[str, Callable[..., str]] = {
    "constant": lambda: "None",
    "step": lambda every_epochs=1.0, gamma=0.1: (
        f"torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, round({every_epochs} * steps_per_epoch)), "
        f"gamma={gamma})"
    ),
    "cosine": lambda min_lr_ratio=0.0: (
        f"torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, total_steps), eta_min=LR * {min_lr_ratio})"
    ),
    # One more step where torch's warm-up would end at step 0 and divide by zero (as optim.onecycle does).
    "onecycle": lambda pct_start=0.25, div_factor=25.0, final_div_factor=1e4: (
        f"torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=max(2, total_steps) + "
        f"(float({pct_start} * max(2, total_steps)) == 1), pct_start={pct_start}, div_factor={div_factor}, "
        f"final_div_factor={final_div_factor})"
    ),
}


# Models that are not built from the playground's own modules, by registry name.
MODEL_EMITTERS: dict[str, Callable[[nn.Module], str]] = {"transfer": transfer_source}


def emit(table: dict[str, Callable[..., Any]], name: str, params: dict, what: str) -> Any:
    """``table[name](**params)``; an ExportError naming the ``what`` when the script has no emitter for it."""
    if name not in table:
        raise ExportError(f"The standalone script does not know the {what} {name!r} yet.")
    return table[name](**params)
