"""The Autoencoders page's setup form: the setup a link holds (``?cfg=``), checked against the widgets that
will show it, and the form's two columns (data and model; corruption and training). No torch here."""

from __future__ import annotations

import math

import streamlit as st

from app_pages.common import guarded, owner
from app_pages.param_widgets import param_widgets
from app_pages.train_layers import units_editor
from playground.config import DataConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig
from playground.data import list_datasets
from playground.data.noise import NOISES, list_noises, parse_noise
from playground.data.uploads import check_folder_allowed
from playground.errors import ConfigError, PlaygroundError
from playground.models import MODELS, list_models, model_params
from playground.models.autoencoder import DECODERS, OUTPUTS
from playground.train import check_names
from playground.train.optim import list_optimizers


def base_config(text: str | None) -> RunConfig:
    """The setup the form starts from: the one in the link (``text``: its ``?cfg=``), checked, or the defaults
    (with a warning when the link's could not be used)."""
    default = RunConfig(
        model=ModelConfig(name="conv_autoencoder"),
        optim=OptimConfig(name="adam", lr=1e-3),
        train=TrainConfig(task="reconstruct", epochs=1.0, probes=("live_recon",)),
        data=DataConfig(noise=("gaussian:0.5",)),
    )
    if not text:
        return default

    def checked() -> RunConfig:
        cfg = RunConfig.from_url(text)
        if cfg.train.task != "reconstruct" or cfg.model.name not in list_models(task="reconstruct"):
            raise ConfigError(
                f"This link sets up a {cfg.model.name} for the {cfg.train.task} task; this page "
                f"trains autoencoders ({', '.join(list_models(task='reconstruct'))}). Open it on "
                "the Train page."
            )
        try:
            check_names(cfg)
            check_params(cfg.model.name, dict(cfg.model.params))
        except PlaygroundError:
            raise
        except (TypeError, ValueError) as e:  # a value of the wrong type where a number belongs
            raise ConfigError(f"A setting in this link has the wrong type ({e}).") from None
        return cfg

    cfg = guarded(checked)
    if cfg is None:
        st.warning("The setup in this link could not be used (see above); the defaults are shown instead.")
    return cfg or default


def _listed(v):
    return list(v) if isinstance(v, tuple) else v


def check_params(name: str, params: dict) -> None:
    """The model settings in a link, checked against the widgets that will show them."""
    defaults = model_params(name)
    for k, v in params.items():
        if k not in defaults:
            raise ConfigError(f"{name} has no setting {k!r}; its settings are {', '.join(defaults)}.")
        d, number = defaults[k], isinstance(v, (int, float)) and not isinstance(v, bool)
        if k == "code":
            ok = isinstance(v, int) and not isinstance(v, bool) and v >= 1
        elif k == "output":
            ok = v in OUTPUTS
        elif k == "decoder":
            ok = v in DECODERS
        elif isinstance(d, bool):
            ok = isinstance(v, bool)
        elif isinstance(d, int):
            ok = isinstance(v, int) and not isinstance(v, bool)
        elif isinstance(d, float):
            ok = number and math.isfinite(v)
        elif isinstance(d, (list, tuple)):
            ok = isinstance(v, (list, tuple)) and all(isinstance(x, int) and not isinstance(x, bool) for x in v)
        elif k in MODELS.choices(name):
            ok = v in MODELS.choices(name)[k]
        else:
            ok = isinstance(v, str)
        if not ok:
            raise ConfigError(f"{name}: {k} = {v!r} is not a valid value (the default is {d!r}).")


def pick(label: str, options: list[str], value: str, key: str, where=st, **kw) -> str:
    return where.selectbox(label, options, index=options.index(value) if value in options else 0, key=key, **kw)


def noise_widget(label: str, specs: tuple[str, ...], key: str, extra: tuple[str, ...] = ()) -> tuple[str, ...] | None:
    """One corruption: a kind and its level (None for 'same as training')."""
    kinds = list(extra) + list_noises()
    name, params = parse_noise(specs[0]) if specs else ("none", {})
    kind = pick(
        label,
        kinds,
        name if specs else (extra[0] if extra else "none"),
        key,
        help="; ".join(f"{n}: {NOISES.doc(n)}" for n in list_noises()),
    )
    if kind in extra:
        return None
    if kind == "none":
        return ("none",)
    first, default = next(iter(NOISES.params(kind).items()))
    level = st.number_input(
        f"{kind} {first}",
        value=float(params.get(first, default)) if kind == name else float(default),
        format="%g",
        step=0.05,
        key=f"{key}_{kind}",
    )
    return (f"{kind}:{level:g}",)


def setup_form(base: RunConfig) -> RunConfig | None:
    """The form, filled from ``base`` (the defaults, or the setup a link holds): the run's config, or None
    with the reason shown."""
    c1, c2 = st.columns(2)
    with c1:
        st.subheader("Data and model", divider="gray")
        dataset = pick(
            "data set",
            list_datasets(),
            base.data.dataset,
            "ae_dataset",
            help="shapes is built in; MNIST shows the ideas best",
        )
        root = st.text_input("data folder (empty: default)", value=base.data.data_root or "", key="ae_root")
        if root and guarded(lambda: check_folder_allowed(root, owner())) is None:
            root = ""  # the message above says why; the run falls back to the default data folder
        limit = st.number_input(
            "use only the first N training images (0: all)",
            min_value=0,
            value=base.data.train_limit or 0,
            step=1000,
            key="ae_limit",
        )
        name = pick(
            "autoencoder",
            list_models(task="reconstruct"),
            base.model.name,
            "ae_model",
            help="autoencoder: fully connected (MLP); conv_autoencoder: strided convolutions",
        )
        params = model_form(name, dict(base.model.params) if name == base.model.name else {})
    with c2:
        st.subheader("Corruption and training", divider="gray")
        noise = noise_widget("training noise", base.data.noise, "ae_noise") or ("none",)
        test_noise = noise_widget("test noise", base.data.test_noise, "ae_test_noise", extra=("same as training",))
        optim, train = training_form(base)
    noise = () if noise == ("none",) else noise
    cfg = RunConfig(
        data=DataConfig(
            dataset=dataset,
            data_root=root or None,
            train_limit=int(limit) or None,
            noise=noise,
            test_noise=test_noise or (),
            normalize=base.data.normalize,
        ),
        model=ModelConfig(name=name, params=params),
        optim=optim,
        train=train,
    )
    return cfg if guarded(lambda: check_names(cfg) or True) else None


def model_form(name: str, current: dict) -> dict:
    """The autoencoder's settings (``current``: the link's, for the same model): those that differ from the
    defaults, and always the code size and the decoder."""
    defaults = model_params(name)
    a, b = st.columns(2)
    params = {}
    if defaults.get("code"):  # the course's networks have none to set: their code is the last feature map
        code = current.get("code", defaults["code"])
        code = a.number_input(
            "bottleneck (code size)",
            min_value=1,
            value=code if isinstance(code, int) and code >= 1 else defaults["code"],
            key=f"ae_code_{name}",
            help="how many numbers the image is squeezed into",
        )
        params["code"] = int(code)
    output = pick(
        "output activation",
        list(OUTPUTS),
        current.get("output", "sigmoid"),
        f"ae_out_{name}",
        where=b,
        help="sigmoid: outputs in [0, 1] like the pixels (MSE or BCE); linear: unbounded (MSE only)",
    )
    params["output"] = output
    if "decoder" in defaults:
        dec = current.get("decoder", defaults["decoder"])
        params["decoder"] = st.radio(
            "decoder",
            DECODERS,
            index=DECODERS.index(dec) if dec in DECODERS else DECODERS.index(defaults["decoder"]),
            key="ae_decoder",
            horizontal=True,
            help="transposed: ConvTranspose2d (stride 2); upsample_*: resize, then a 3x3 convolution",
        )
    layers = [k for k in ("channels", "hidden") if k in defaults]  # layer sizes: a table, as on the Train page
    for k in layers:
        sizes = units_editor(f"{k} (one row per layer)", current.get(k, defaults[k]), f"ae_m_{name}_{k}")
        params[k] = list(defaults[k]) if sizes is None else sizes
    rest = {k: v for k, v in defaults.items() if k not in ("code", "output", "decoder", *layers)}
    params.update(
        param_widgets(
            rest,
            f"ae_m_{name}",
            {k: v for k, v in current.items() if k in rest},
            ranges=MODELS.ranges(name),
            choices=MODELS.choices(name),
        )
    )
    return {k: v for k, v in params.items() if k in ("code", "decoder") or v != _listed(defaults.get(k))}


def training_form(base: RunConfig) -> tuple[OptimConfig, TrainConfig]:
    """The loss, optimiser and training settings (the shuffle and validation split as ``base`` has them)."""
    losses = ["mse", "bce"]
    loss = st.radio(
        "loss",
        losses,
        index=losses.index(base.train.recon_loss) if base.train.recon_loss in losses else 0,
        key="ae_loss",
        horizontal=True,
        help="BCE treats each pixel as a probability: needs the sigmoid output",
    )
    a, b = st.columns(2)
    opt = a.selectbox(
        "optimiser",
        list_optimizers(),
        index=list_optimizers().index(base.optim.name) if base.optim.name in list_optimizers() else 0,
        key="ae_opt",
    )
    lr = b.number_input("learning rate", value=base.optim.lr, format="%g", min_value=0.0, key="ae_lr")
    bs = a.number_input(
        "batch size",
        value=base.train.batch_size,
        min_value=1,
        step=16,
        key="ae_bs",
        placeholder="auto",
        help="empty: auto, from the training set's size",
    )
    epochs = b.number_input(
        "epochs", value=max(0.01, float(base.train.epochs)), min_value=0.01, step=1.0, format="%g", key="ae_epochs"
    )
    seed = a.number_input("seed", value=base.train.seed, step=1, key="ae_seed")
    device = b.selectbox("device", ["auto", "cpu", "cuda"], key="ae_device")
    return (
        OptimConfig(name=opt, lr=float(lr), schedule="constant"),
        TrainConfig(
            task="reconstruct",
            recon_loss=loss,
            epochs=float(epochs),
            batch_size=int(bs) if bs else None,
            seed=int(seed),
            device=device,
            probes=("live_recon",),
            shuffle=base.train.shuffle,
            val_fraction=base.train.val_fraction,
        ),
    )  # as the link set them
