"""The Inside page's tabs about weights: how they and their gradients changed over a run's training
(Weights & gradients) and the initialisation lab (one batch before any training under several
initialisations, then a race between them, a job). No torch here."""

from __future__ import annotations

import json
from typing import Callable

import streamlit as st

from app_pages.common import guarded, job_manager, my_runs, owner
from app_pages.inside_shared import load_source
from app_pages.param_widgets import param_widgets
from app_pages.train_layers import TABLED, layer_tables
from playground import inside as ins
from playground.config import DataConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig
from playground.data import list_datasets
from playground.inside import dynamics_plots as dyn
from playground.inside.forward import layer_names
from playground.models import MODELS, model_params
from playground.runs import Run
from playground.train.init import INITS, list_inits
from playground.train.snapshots import layer_stats_series


def weights_tab(tr: ins.Trained, run: Run) -> None:
    """Gradient and weight norms per layer, and one layer's weight histograms, over the run's training."""
    stats = layer_stats_series(run.events())
    if not stats["layers"]:
        st.info(
            "This run was trained without layer statistics. Turn on **record snapshots and layer "
            "statistics** on the Train page (or `--probes layer_stats`) and train again.",
            icon=":material/info:",
        )
    else:
        names = layer_names(tr)
        st.plotly_chart(dyn.grad_norms(stats, names=names), key="i_w_g")
        st.caption(
            "Gradient norm per layer at each logged step: curves that fall towards 0 in early layers "
            "are vanishing gradients; ones that shoot up are exploding."
        )
        layer = st.selectbox(
            "weight histogram of layer",
            stats["layers"],
            key="i_w_layer",
            format_func=lambda n: f"{names.get(n, n)} ({n})",
        )
        st.plotly_chart(
            dyn.weight_histograms(stats["series"][layer], f"{names.get(layer, layer)}: weights over training"),
            key="i_w_h",
        )
        st.caption(
            "Each column is the layer's weights at one logged step: up is the weight's value, colour "
            "how many weights have it (bright: many; blank: none that far out). A band that widens "
            "is weights growing; one that stays put is a layer that hardly learns."
        )
        st.plotly_chart(dyn.grad_norms(stats, "w_norm", "weight norm per layer", names), key="i_w_w")


def init_lab(home: str, data_source: Callable[[str], tuple]) -> None:
    """The initialisation lab: ``home`` is the data set chosen first, ``data_source`` the page's (the run's
    own data settings for its data set)."""
    st.markdown(
        "Initialise the same model several ways, look at one batch before any training, then race them "
        "with the same seed and data."
    )
    c1, c2 = st.columns(2)
    ds_name = c1.selectbox("data set", list_datasets(), index=list_datasets().index(home), key="i_i_ds")
    lab_models = ins.init_lab_models()
    model = c2.selectbox(
        "model",
        lab_models,
        index=lab_models.index("cnn"),
        key="i_i_model",
        help="Classifiers trained from scratch (autoencoders have their own page; a transfer "
        "model starts from pretrained weights, not an initialisation).",
    )
    lab_current, tabled = ins.LAB_DEFAULTS["params"].get(model, {}), TABLED.get(model, ())
    tables = layer_tables(model, lab_current, f"i_i_t_{model}") if tabled else {}  # the Train page's tables
    mparams = param_widgets(
        {k: v for k, v in model_params(model).items() if k not in tabled},
        f"i_i_m_{model}",
        current={k: v for k, v in lab_current.items() if k not in tabled},
        ranges=MODELS.ranges(model),
        choices=MODELS.choices(model),
    )
    mparams = None if tables is None else {**lab_current, **tables, **mparams}
    inits = _initialisations()
    src = data_source(ds_name)
    data = guarded(lambda: load_source(src)) if inits and mparams is not None else None
    if data is not None:
        _one_batch(model, mparams, src, inits)
        _race(src, len(data.train_y), model, mparams, inits)


def _initialisations() -> dict[str, tuple[str, dict]]:
    """The initialisations chosen, each with its settings: label -> (name, params)."""
    chosen = st.multiselect(
        "initialisations",
        list_inits(),
        key="i_i_inits",
        default=[n for n in ("zeros", "constant", "normal", "xavier_uniform", "kaiming_normal") if n in list_inits()],
    )
    inits: dict[str, tuple[str, dict]] = {}
    cols = st.columns(max(1, len(chosen)))
    for col, name in zip(cols, chosen):
        with col:
            if name == "normal":
                std = st.select_slider(
                    "normal: std", [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0], value=0.01, key="i_i_std"
                )
                inits[f"normal(std={std:g})"] = (name, {"std": std})
            else:
                params = param_widgets(
                    INITS.params(name),
                    f"i_i_p_{name}",
                    columns=1,
                    ranges=INITS.ranges(name),
                    choices=INITS.choices(name),
                )
                inits[name + (f"({', '.join(f'{k}={v}' for k, v in params.items())})" if params else "")] = (
                    name,
                    params,
                )
    return inits


@st.cache_data(max_entries=8, show_spinner="Measuring one batch...")
def _stats(model: str, mparams_json: str, src_json: str, inits_json: str) -> dict:
    return ins.init_stats(
        model,
        json.loads(mparams_json),
        load_source(json.loads(src_json)),
        {k: tuple(v) for k, v in json.loads(inits_json).items()},
    )


def _one_batch(model: str, mparams: dict, src: tuple, inits: dict[str, tuple[str, dict]]) -> None:
    """Each initialisation's layer statistics on one batch before any training (cached)."""
    stats = guarded(lambda: _stats(model, json.dumps(mparams), json.dumps(src), json.dumps(inits)))
    if not stats:
        return
    st.plotly_chart(dyn.init_stats_figure(stats), key="i_i_stats")
    n = next(iter(stats.values())).get("images", 256)  # fewer for a model over the lab's budget
    st.caption(
        f"Per weight layer, on one batch of {n} training images before any training: the mean and "
        "std of the layer's output, and the std of the loss gradient flowing back into it. Good "
        "schemes (xavier, kaiming) keep the std about the same from layer to layer; tiny weights "
        "shrink it, and zeros stop both signal and gradient."
    )
    same = [k for k, s in stats.items() if all(v < 1e-6 for v in list(s["spread"].values())[:-1])]
    if same:
        st.warning(
            f"{', '.join(same)}: every unit of each hidden layer starts identical, so every unit "
            "gets the same gradient and stays identical: the layer behaves like one unit.",
            icon=":material/content_copy:",
        )


def _race(src: tuple, n_train: int, model: str, mparams: dict, inits: dict[str, tuple[str, dict]]) -> None:
    """The race: the same model under each initialisation, same seed and data (a job), and its result."""
    c1, c2, c3 = st.columns(3)
    lab = ins.LAB_DEFAULTS
    limit = c1.number_input(
        "training images", min(256, n_train), n_train, min(lab["images"], n_train), step=256, key="i_i_limit"
    )
    epochs = c2.number_input("epochs", 0.1, 10.0, lab["epochs"], step=0.5, key="i_i_epochs")
    lr = c3.number_input("learning rate (Adam)", 1e-5, 1.0, lab["lr"], format="%g", key="i_i_lr")
    if st.button("Race", type="primary", key="i_i_race", icon=":material/sprint:"):
        base = RunConfig(
            data=DataConfig(dataset=src[0], data_root=src[1], params=src[2], train_limit=int(limit)),
            model=ModelConfig(name=model, params=mparams),
            optim=OptimConfig(name="adam", lr=float(lr), schedule="constant"),
            train=TrainConfig(epochs=float(epochs), batch_size=64, log_every=5, device="cpu"),
        )
        job = guarded(lambda: job_manager().submit(ins.InitRace(base, inits), owner()))
        if job is not None:
            my_runs().append(job.run_id)
            st.session_state.i_race_run = job.run_id
    race = race_panel(st.session_state.get("i_race_run"))
    if race:
        st.plotly_chart(dyn.race_figure(race), key="i_i_racefig")
        st.plotly_chart(dyn.spread_figure(race), key="i_i_spread")
        rows = [
            {
                "initialisation": k,
                "final loss": r["loss"][-1] if r["loss"] else None,
                "test accuracy": None if r["test_acc"] is None else f"{r['test_acc']:.1%}",
                "end": r["final"]["kind"] if r["final"] else "",
            }
            for k, r in race.items()
        ]
        st.dataframe(rows, hide_index=True)
        st.download_button(
            "Race results (.json)",
            json.dumps(race),
            file_name="init-race.json",
            mime="application/json",
            key="i_i_dl",
            icon=":material/download:",
        )


def race_panel(race_id: str | None) -> dict | None:
    """The race's progress while the job manager runs it (a worker process), then its result."""
    if race_id is None:
        return None
    status = job_manager().status(race_id, "initrace")
    if status in ("queued", "running", "paused"):

        @st.fragment(run_every=1.0)
        def progress() -> None:
            snap = job_manager().snapshot(race_id, "initrace")
            now = job_manager().status(race_id, "initrace")
            if now == "queued":
                st.info(
                    f"Waiting for a free slot (place {job_manager().queue_position(race_id)} in the queue).",
                    icon=":material/hourglass_top:",
                )
            st.progress(min(1.0, snap["progress"][0]), text=snap["progress"][1])
            c1, c2 = st.columns([1, 5])
            if c1.button("Stop", key="i_i_stop", icon=":material/stop:"):
                job_manager().stop(race_id)
            if now not in ("queued", "running", "paused"):
                st.rerun()

        progress()
        return None
    snap = job_manager().snapshot(race_id, "initrace")
    if snap["final"] and snap["final"]["kind"] != "done":
        (st.info if snap["final"]["kind"] == "stopped" else st.error)(snap["final"].get("message", ""))
    return snap["race"]
