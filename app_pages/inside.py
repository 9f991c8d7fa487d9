"""Inside the network: filters over epochs, activations, saliency and Grad-CAM, weights and
gradients over time, an initialisation lab, MLP vs CNN, and run comparison.

The page picks a run from the run store (``?run=<id>`` preselects one); everything heavy is done
by ``playground.inside`` and cached per run."""

from __future__ import annotations

import json

import streamlit as st

from app_pages.common import guarded, job_manager, listed_runs, md, my_runs, owner, param_widgets, run_name
from app_pages.drawing_parts import chosen_image
from app_pages.inside_parts import (
    activation_views,
    featvis_panel,
    filters_view,
    layer_names,
    pair_panel,
    race_panel,
    trained,
)
from app_pages.lesson_parts import landing
from app_pages.train_setup_parts import TABLED, layer_tables
from playground import inside as ins
from playground.config import DataConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig, config_diff
from playground.data import list_datasets, load_dataset
from playground.errors import PlaygroundError
from playground.inside import dynamics_plots as dyn
from playground.inside import plots as pin
from playground.models import MODELS, model_params
from playground.train.init import INITS, list_inits
from playground.train.snapshots import layer_stats_series

st.title("Inside the network")
landing()  # a Start-page lesson's sentence and its one button (app_pages/lesson_parts.py)
manager = job_manager()
store = manager.store
qp = st.query_params

listed = set(listed_runs([r.run_id for r in store.list()]))  # this session's runs and the one in the link
runs = ins.inspectable_runs(store, keep=listed.__contains__)
by_id = {r["run_id"]: r for r in runs}
ids = list(by_id)
wanted = qp.get("run")
run_id = st.selectbox("trained run", ids, index=ids.index(wanted) if wanted in ids else (0 if ids else None),
                      format_func=lambda i: by_id[i]["label"], key="i_run", placeholder="no trained runs yet",
                      help="Your classifier runs with saved weights (and the run a shared link opens), newest "
                           "first. Autoencoder runs are inspected on the Autoencoders page.")
if run_id and qp.get("run") != run_id:
    qp["run"] = run_id
tr = trained(run_id) if run_id else None
run = store.open(run_id) if run_id else None
if tr is not None:
    st.caption(f"{tr.data.name} {list(tr.in_shape)} · {tr.config.model.name} · init {tr.config.model.init} · "
               f"weights from {tr.source}" + ("" if tr.epoch is None else f" (epochs trained: {tr.epoch})"))

def data_source(name: str) -> tuple:
    """(name, root, params) to load: the chosen run's own data settings when it is the same data set."""
    if tr is not None and tr.config.data.dataset == name:
        return name, tr.config.data.data_root, dict(tr.config.data.params)
    return name, None, {}


def load_source(src: tuple):
    name, root, params = src
    return load_dataset(name, root=root, **params)


home = tr.config.data.dataset if tr is not None and tr.config.data.dataset in list_datasets() else "shapes"
NO_RUN = "Pick a trained run above (or train one on the Train page: a few epochs of the default CNN on shapes " \
         "take under a minute). Autoencoder runs are inspected on the Autoencoders page."

# Lazy tabs bound to the URL (?tab=...): only the open one runs, and a link opens the same tab.
tabs = st.tabs(["Filters", "Activations", "Saliency & Grad-CAM", "Weights & gradients", "Initialisation lab",
                "MLP vs CNN", "Compare runs"], key="tab", on_change="rerun", bind="query-params")


# -- filters ---------------------------------------------------------------------------------

with tabs[0]:
    if tabs[0].open:  # lazy: only the open tab runs
        if tr is None:
            st.info(NO_RUN, icon=":material/info:")
        else:
            filters_view(tr, run)
            featvis_panel(tr)


# -- activations -----------------------------------------------------------------------------

with tabs[1]:
    if tabs[1].open:  # lazy: only the open tab runs
        if tr is None:
            st.info(NO_RUN, icon=":material/info:")
        else:
            img = chosen_image(tr, "i")
            if img is not None:
                x, shown, cap = img
                acts = guarded(lambda: ins.activations(tr, x))
                if acts is not None:
                    a, b = st.columns([1, 3])
                    a.image(shown, caption=cap, width=140)
                    top = acts["probs"].argmax()
                    a.markdown(f"prediction: **{md(tr.classes[top])}** ({acts['probs'][top]:.0%})")
                    b.plotly_chart(pin.probabilities(acts["probs"], tr.classes, int(top)), key="i_a_probs")
                    activation_views(acts, tr.classes)
                    st.subheader("Which test images excite a channel most?", divider="gray")
                    names = [l["name"] for l in acts["layers"]]
                    labels = {l["name"]: l["label"] for l in acts["layers"]}
                    c1, c2, c3 = st.columns(3)
                    node = c1.selectbox("layer", names, key="i_t_layer", format_func=labels.get)
                    width = next(l["shape"][0] for l in acts["layers"] if l["name"] == node)
                    ch = c2.number_input(f"channel / unit (0..{width - 1})", 0, width - 1, 0, key="i_t_ch")
                    n_test = len(tr.data.test_y)
                    limit = c3.number_input("test images to search", min(100, n_test), n_test,
                                            min(2000, len(tr.data.test_y)), step=500, key="i_t_limit")
                    if st.button("Find top-activating images", key="i_t_go", icon=":material/search:"):
                        with st.spinner("Running the test images through the network..."):
                            st.session_state.i_top = (run_id, node, ch,
                                                      guarded(lambda: ins.top_activating(tr, node, int(ch),
                                                                                         limit=int(limit))))
                    res = st.session_state.get("i_top")
                    if res and res[:3] == (run_id, node, ch) and res[3]:
                        t = res[3]
                        st.image(t["images"], caption=[f"{lab} · {v:.2f}" for lab, v in zip(t["labels"], t["value"])],
                                 width=84)
                        st.caption(f"Mean activation of {labels[node]} ({node}) channel {ch}, highest first, of "
                                   f"{t['searched']} test images.")


# -- saliency and Grad-CAM ---------------------------------------------------------------------

with tabs[2]:
    if tabs[2].open:  # lazy: only the open tab runs
        if tr is None:
            st.info(NO_RUN, icon=":material/info:")
        else:
            img = chosen_image(tr, "i_s")
            target = st.selectbox("explain the class", ["the predicted class"] + tr.classes, key="i_s_cls")
            t_idx = None if target == "the predicted class" else tr.classes.index(target)
            x, shown, cap = img if img is not None else (None, None, None)
            sal = guarded(lambda: ins.saliency(tr, x, t_idx)) if x is not None else None
            cam = guarded(lambda: ins.grad_cam(tr, x, t_idx)) if sal is not None else None
            if x is not None:
                st.caption(f"{md(cap)} · predicted " + ", ".join(f"{md(c)} {p:.0%}" for c, p in ins.predict(tr, x, 3)))
            a, b, c = st.columns(3)
            if x is not None:
                a.image(shown, caption="input", width="stretch")
            if sal is not None:
                b.plotly_chart(pin.overlay(shown, sal["map"], f"saliency for {sal['class']}"), key="i_s_sal")
            if cam is not None:
                c.plotly_chart(pin.overlay(shown, cam["map"], f"Grad-CAM for {cam['class']} ({cam['layer']}, "
                                                              f"{cam['layer_size'][0]}x{cam['layer_size'][1]})"),
                               key="i_s_cam")
            st.caption("Saliency: how much each pixel changes the class score. Grad-CAM: where the last conv layer's "
                       "maps that raise the class score are active (coarse: that layer's resolution, upsampled).")


# -- weights and gradients over time -----------------------------------------------------------

with tabs[3]:
    if tabs[3].open:  # lazy: only the open tab runs
        if tr is None:
            st.info(NO_RUN, icon=":material/info:")
        else:
            stats = layer_stats_series(run.events())
            if not stats["layers"]:
                st.info("This run was trained without layer statistics. Turn on **record snapshots and layer "
                        "statistics** on the Train page (or `--probes layer_stats`) and train again.",
                        icon=":material/info:")
            else:
                names = layer_names(tr)
                st.plotly_chart(dyn.grad_norms(stats, names=names), key="i_w_g")
                st.caption("Gradient norm per layer at each logged step: curves that fall towards 0 in early layers "
                           "are vanishing gradients; ones that shoot up are exploding.")
                layer = st.selectbox("weight histogram of layer", stats["layers"], key="i_w_layer",
                                     format_func=lambda n: f"{names.get(n, n)} ({n})")
                st.plotly_chart(dyn.weight_histograms(stats["series"][layer],
                                                      f"{names.get(layer, layer)}: weights over training"),
                                key="i_w_h")
                st.caption("Each column is the layer's weights at one logged step: up is the weight's value, colour "
                           "how many weights have it (bright: many; blank: none that far out). A band that widens "
                           "is weights growing; one that stays put is a layer that hardly learns.")
                st.plotly_chart(dyn.grad_norms(stats, "w_norm", "weight norm per layer", names), key="i_w_w")


# -- initialisation lab ------------------------------------------------------------------------

with tabs[4]:
    if tabs[4].open:  # lazy: only the open tab runs
        st.markdown("Initialise the same model several ways, look at one batch before any training, then race them "
                    "with the same seed and data.")
        c1, c2 = st.columns(2)
        ds_name = c1.selectbox("data set", list_datasets(), index=list_datasets().index(home), key="i_i_ds")
        lab_models = ins.init_lab_models()
        model = c2.selectbox("model", lab_models, index=lab_models.index("cnn"), key="i_i_model",
                             help="Classifiers trained from scratch (autoencoders have their own page; a transfer "
                                  "model starts from pretrained weights, not an initialisation).")
        lab_current, tabled = ins.LAB_DEFAULTS["params"].get(model, {}), TABLED.get(model, ())
        tables = layer_tables(model, lab_current, f"i_i_t_{model}") if tabled else {}  # the Train page's tables
        mparams = param_widgets({k: v for k, v in model_params(model).items() if k not in tabled}, f"i_i_m_{model}",
                                current={k: v for k, v in lab_current.items() if k not in tabled},
                                ranges=MODELS.ranges(model), choices=MODELS.choices(model))
        mparams = None if tables is None else {**lab_current, **tables, **mparams}
        chosen = st.multiselect("initialisations", list_inits(), key="i_i_inits",
                                default=[n for n in ("zeros", "constant", "normal", "xavier_uniform", "kaiming_normal")
                                         if n in list_inits()])
        inits: dict[str, tuple[str, dict]] = {}
        cols = st.columns(max(1, len(chosen)))
        for col, name in zip(cols, chosen):
            with col:
                if name == "normal":
                    std = st.select_slider("normal: std", [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0], value=0.01,
                                           key="i_i_std")
                    inits[f"normal(std={std:g})"] = (name, {"std": std})
                else:
                    params = param_widgets(INITS.params(name), f"i_i_p_{name}", columns=1, ranges=INITS.ranges(name),
                                           choices=INITS.choices(name))
                    inits[name + (f"({', '.join(f'{k}={v}' for k, v in params.items())})" if params else "")] = \
                        (name, params)
        src = data_source(ds_name)
        data = guarded(lambda: load_source(src)) if inits and mparams is not None else None
        if data is not None:
            @st.cache_data(max_entries=8, show_spinner="Measuring one batch...")
            def _stats(model: str, mparams_json: str, src_json: str, inits_json: str) -> dict:
                return ins.init_stats(model, json.loads(mparams_json), load_source(json.loads(src_json)),
                                      {k: tuple(v) for k, v in json.loads(inits_json).items()})

            stats = guarded(lambda: _stats(model, json.dumps(mparams), json.dumps(src), json.dumps(inits)))
            if stats:
                st.plotly_chart(dyn.init_stats_figure(stats), key="i_i_stats")
                n = next(iter(stats.values())).get("images", 256)  # fewer for a model over the lab's budget
                st.caption(f"Per weight layer, on one batch of {n} training images before any training: the mean and "
                           "std of the layer's output, and the std of the loss gradient flowing back into it. Good "
                           "schemes (xavier, kaiming) keep the std about the same from layer to layer; tiny weights "
                           "shrink it, and zeros stop both signal and gradient.")
                same = [k for k, s in stats.items() if all(v < 1e-6 for v in list(s["spread"].values())[:-1])]
                if same:
                    st.warning(f"{', '.join(same)}: every unit of each hidden layer starts identical, so every unit "
                               "gets the same gradient and stays identical: the layer behaves like one unit.",
                               icon=":material/content_copy:")
            c1, c2, c3 = st.columns(3)
            n_train = len(data.train_y)
            lab = ins.LAB_DEFAULTS
            limit = c1.number_input("training images", min(256, n_train), n_train, min(lab["images"], n_train),
                                    step=256, key="i_i_limit")
            epochs = c2.number_input("epochs", 0.1, 10.0, lab["epochs"], step=0.5, key="i_i_epochs")
            lr = c3.number_input("learning rate (Adam)", 1e-5, 1.0, lab["lr"], format="%g", key="i_i_lr")
            if st.button("Race", type="primary", key="i_i_race", icon=":material/sprint:"):
                base = RunConfig(data=DataConfig(dataset=ds_name, data_root=src[1], params=src[2],
                                                 train_limit=int(limit)),
                                 model=ModelConfig(name=model, params=mparams),
                                 optim=OptimConfig(name="adam", lr=float(lr), schedule="constant"),
                                 train=TrainConfig(epochs=float(epochs), batch_size=64, log_every=5, device="cpu"))
                job = guarded(lambda: manager.submit(ins.InitRace(base, inits), owner()))
                if job is not None:
                    my_runs().append(job.run_id)
                    st.session_state.i_race_run = job.run_id
            race = race_panel(st.session_state.get("i_race_run"))
            if race:
                st.plotly_chart(dyn.race_figure(race), key="i_i_racefig")
                st.plotly_chart(dyn.spread_figure(race), key="i_i_spread")
                rows = [{"initialisation": k, "final loss": r["loss"][-1] if r["loss"] else None,
                         "test accuracy": None if r["test_acc"] is None else f"{r['test_acc']:.1%}",
                         "end": r["final"]["kind"] if r["final"] else ""}
                        for k, r in race.items()]
                st.dataframe(rows, hide_index=True)
                st.download_button("Race results (.json)", json.dumps(race), file_name="init-race.json",
                                   mime="application/json", key="i_i_dl", icon=":material/download:")


# -- MLP vs CNN --------------------------------------------------------------------------------

with tabs[5]:
    if tabs[5].open:  # lazy: only the open tab runs
        ds2 = st.selectbox("input shape from data set", list_datasets(), index=list_datasets().index(home),
                           key="i_m_ds")
        d2 = guarded(lambda: load_source(data_source(ds2)))
        if d2 is not None:
            tables = {name: ins.param_table(name, {}, d2.shape, d2.num_classes) for name in ("mlp", "cnn")}
            st.plotly_chart(pin.param_counts(tables), key="i_m_params")
            a, b = st.columns(2)
            for col, (name, t) in zip((a, b), tables.items()):
                col.markdown(f"**{name}** (defaults): {t['total']:,} parameters")
                col.dataframe(t["rows"], hide_index=True)
            st.caption("A conv layer reuses one small kernel at every position (weight sharing). The same layer "
                       "without sharing (a kernel per position) or fully connected would need the other columns.")
        st.subheader("Invariance: accuracy on shifted and rotated test images", divider="gray")
        pair_panel(ds2, data_source(ds2))
        if not runs:
            st.info("Train an MLP and a CNN on the same data set (the button above, or the Train page), then "
                    "compare them here.", icon=":material/info:")
        else:
            picked = st.multiselect("trained runs (same data set)", ids, format_func=lambda i: by_id[i]["label"],
                                    default=ids[:1], key="i_m_runs")
            c1, c2, c3 = st.columns(3)
            k = c1.slider("largest shift (pixels)", 1, 12, 6, key="i_m_k")
            n_deg = c2.slider("largest rotation (degrees)", 10, 180, 90, step=10, key="i_m_deg")
            n_img = c3.number_input("test images", 100, 10000, 1000, step=500, key="i_m_n")
            if st.button("Test invariance", key="i_m_go", disabled=not picked, icon=":material/open_with:"):
                models = [m for m in (trained(i) for i in picked) if m is not None]
                if len(models) == len(picked):
                    with st.spinner("Shifting and rotating test images..."):
                        st.session_state.i_inv = guarded(lambda: ins.invariance(
                            models, list(range(0, k + 1)), [float(a) for a in range(0, n_deg + 1, max(5, n_deg // 9))],
                            n_images=int(n_img)))
            inv = st.session_state.get("i_inv")
            if inv:
                st.plotly_chart(pin.invariance_figure(inv), key="i_m_inv")
                st.download_button("Invariance results (.json)", json.dumps(inv), file_name="invariance.json",
                                   mime="application/json", key="i_m_dl", icon=":material/download:")


# -- compare runs ------------------------------------------------------------------------------

with tabs[6]:
    if tabs[6].open:  # lazy: only the open tab runs
        all_runs = listed_runs(store.list(), key=lambda r: r.run_id)[:100]
        if not all_runs:
            st.info("No runs of yours yet: train a few on the Train page.", icon=":material/info:")
        else:
            labels = {}
            for r in all_runs:
                try:
                    c = r.config()
                    labels[r.run_id] = f"{r.label()} · {c.data.dataset} · {c.model.name} · lr {c.optim.lr:g}"
                except PlaygroundError:
                    continue
            pick = st.multiselect("runs to overlay", list(labels), format_func=labels.get, key="i_c_runs",
                                  default=[run_id] if run_id in labels else list(labels)[:1])
            if pick:
                named = {i: (f"{n[:24]} · {i[-6:]}" if (n := run_name("train", i)) else i[-12:]) for i in pick}
                snaps = {i: manager.snapshot(i) for i in pick}
                st.plotly_chart(pin.compare_curves({named[i]: s for i, s in snaps.items()}), key="i_c_fig")  # names
                diff = config_diff([store.open(i).config() for i in pick]) if len(pick) > 1 else []
                if len(pick) > 1:
                    if diff:
                        st.markdown("**Settings that differ**")
                        st.dataframe([{"setting": d["setting"], **{named[i]: json.dumps(v) for i, v in
                                                                   zip(pick, d["values"])}} for d in diff],
                                     hide_index=True)
                    else:
                        st.caption("These runs have the same settings.")
                rows = []
                for i, s in snaps.items():
                    last = s["epochs"][-1] if s["epochs"] else {}
                    rows.append({"run": named[i], "run id": i,
                                 "steps": s["steps"]["step"][-1] if s["steps"]["step"] else 0,
                                 "test accuracy": last.get("test_acc"), "test loss": last.get("test_loss")})
                st.dataframe(rows, hide_index=True)
                st.download_button("Comparison (.json)", json.dumps({"runs": rows, "differences": diff}),
                                   file_name="compare-runs.json", mime="application/json", key="i_c_dl",
                                   icon=":material/download:")
