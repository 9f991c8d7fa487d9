"""Journeys through the app as a student takes them (AppTest: the real pages, the real job manager, real
data): an own image folder trained from the Train page to a finished run and looked inside; every job kind
shown on the teacher's projector; feature visualisation at every offered size. The browser journeys (a
zip upload, the canvas, the webcam) are in tests/test_browser_journeys.py."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from playground.jobs.manager import reset_manager

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ("airplane", "cat", "ship")


def photo_folder(cifar_jpg: Path, dest: Path, per_class: int = 24) -> Path:
    """A small folder of real photos, one sub-folder per class (what a student brings)."""
    for c in CLASSES:
        (dest / c).mkdir(parents=True)
        for f in sorted((cifar_jpg / "train" / c).iterdir())[:per_class]:
            shutil.copy(f, dest / c / f.name)
    return dest


def no_errors(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def qp(at, key):
    v = at.query_params[key]
    return v if isinstance(v, str) else v[0]


def wait_finished(run_id: str, kind: str = "train", timeout: float = 240) -> str:
    from app_pages.common import job_manager

    m = job_manager()
    deadline = time.time() + timeout
    while time.time() < deadline and m.status(run_id, kind) in ("queued", "running", "paused"):
        time.sleep(0.2)
    return m.status(run_id, kind)


def train_from_page(at, dataset: str, root: str | None, epochs: float = 2.0, **options) -> str:
    """The Train page as a student fills it: data set, folder, a few options; Start; the run's id."""
    at.switch_page("app_pages/train.py").run()
    at.selectbox(key="t_dataset").set_value(dataset).run()
    if root is not None:
        at.text_input(key=f"t_root_{dataset == 'image_folder'}").set_value(root).run()
    for key, value in options.items():
        widget = next(w for w in at.main if getattr(w, "key", None) == key)
        widget.set_value(value).run()
    at.number_input(key="t_epochs").set_value(epochs).run()
    at.selectbox(key="t_precision").set_value("fp32").run()
    no_errors(at)
    at.button(key="t_start").click().run()
    no_errors(at)
    return qp(at, "run")


def test_own_photo_folder_trains_from_the_train_page_and_is_looked_inside(app, cifar_jpg, tmp_path):
    folder = photo_folder(cifar_jpg, tmp_path / "my photos")
    at = app.run()
    at.switch_page("app_pages/train.py").run()
    at.selectbox(key="t_dataset").set_value("image_folder").run()
    # the folder's colour mode offers the data set's own modes (never another registry's "mode")
    mode = at.selectbox(key="t_d_image_folder__mode")
    assert list(mode.options) == ["auto", "RGB", "L"] and mode.value == "auto"
    mode.set_value("RGB").run()
    run_id = train_from_page(at, "image_folder", str(folder), epochs=2.0)
    assert wait_finished(run_id) == "done"
    at.run()
    no_errors(at)
    assert any(m.label == "test accuracy" for m in at.metric)
    from app_pages.common import job_manager

    cfg = job_manager().store.open(run_id).config()
    assert cfg.data.dataset == "image_folder" and cfg.data.params.get("mode") == "RGB"
    # looked inside: the Inside page opens the run with the classes of the folder
    at.switch_page("app_pages/inside.py").run()
    no_errors(at)
    assert at.selectbox(key="i_run").value == run_id
    at.query_params["tab"] = "Saliency & Grad-CAM"
    at.run()
    no_errors(at)
    assert at.selectbox(key="i_s_cls").options == ["the predicted class", *CLASSES]
    assert {c.key for c in at.get("plotly_chart")} >= {"i_s_sal", "i_s_cam"}


def test_a_link_with_a_folder_mode_keeps_it(app, tmp_path):
    from playground.config import DataConfig, RunConfig

    cfg = RunConfig(data=DataConfig(dataset="image_folder", data_root=str(tmp_path), params={"mode": "L"}))
    app.query_params["cfg"] = cfg.to_url()
    at = app.run()
    at.switch_page("app_pages/train.py").run()
    assert at.selectbox(key="t_d_image_folder__mode").value == "L"


def test_every_text_parameter_with_choices_has_its_default_among_them():
    from playground.data import DATASETS
    from playground.models import MODELS
    from playground.train.init import INITS

    for reg in (DATASETS, MODELS, INITS):
        for name in reg.names():
            params = reg.params(name)
            for p, opts in reg.choices(name).items():
                assert params[p] in opts, (reg.kind, name, p)


# -- feature visualisation at every size the page offers, on MNIST, a CIFAR folder and shapes --------------


@pytest.fixture(scope="module")
def small_runs(mnist_root, cifar_jpg, tmp_path_factory):
    """A short run of the default CNN on each of MNIST (28 px, grey), a CIFAR photo folder (32 px, RGB) and
    shapes: run store, run ids."""
    from playground.config import RunConfig
    from playground.runs import RunStore
    from playground.train import fit

    root = tmp_path_factory.mktemp("small-runs")
    folder = photo_folder(cifar_jpg, root / "photos", per_class=16)
    store = RunStore(root / "runs")
    data = {
        "mnist": {"dataset": "mnist", "data_root": str(mnist_root), "download": False, "train_limit": 256},
        "cifar folder": {"dataset": "image_folder", "data_root": str(folder)},
        "shapes": {"dataset": "shapes", "params": {"n_train": 256, "n_test": 64}},
    }
    ids = {}
    for name, d in data.items():
        cfg = RunConfig().replace(
            data=d, train={"epochs": 1.0, "batch_size": 32, "device": "cpu", "precision": "fp32", "probes": ()}
        )
        ids[name] = list(fit(cfg, store=store))[0]["run_id"]
    return store, ids


@pytest.mark.parametrize("data", ["mnist", "cifar folder", "shapes"])
def test_feature_visualisation_works_at_every_offered_size(small_runs, data):
    from playground.inside.featvis import SIZES, conv_layers, visualise
    from playground.models.saved import load_saved

    store, ids = small_runs
    saved = load_saved(store.open(ids[data]))
    for layer in conv_layers(saved.model):  # the first and the deepest layer: every layer at every size
        for size in SIZES:
            res = visualise(saved, layer, [0, 1], size=size, steps=2)
            assert res["images"].shape[1:3] == (size, size), (data, layer, size)


# -- every job kind on every page that shows it, the teacher's projector included --------------------------

KEY = "journey-teacher-key-0123456789"


@pytest.fixture
def every_kind(tmp_path, monkeypatch):
    """One finished job of every kind, started as the pages start them (the job manager, one owner): a
    classifier, an autoencoder, a transfer from the classifier, a feature visualisation, a style transfer
    with the classifier's features, an initialisation race. (manager, owner, {label: (kind, run id)})."""
    from playground import inside as ins
    from playground import style
    from playground.config import DataConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig
    from playground.inside.race import InitRace

    monkeypatch.setenv("PLAYGROUND_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("PLAYGROUND_WORKERS", "thread")
    monkeypatch.setenv("PLAYGROUND_TEACHER_KEY", KEY)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))
    reset_manager()
    from app_pages.common import job_manager

    m, owner = job_manager(), "journey-owner-token-0001"
    shapes = DataConfig(dataset="shapes", params={"n_train": 256, "n_test": 64})
    train = TrainConfig(epochs=1.0, batch_size=32, device="cpu", precision="fp32")
    jobs: dict[str, tuple[str, str]] = {}

    def run(label, spec, kind):
        job = m.submit(spec, owner)
        assert wait_finished(job.run_id, kind, 180) == "done", (label, m.snapshot(job.run_id, kind).get("final"))
        jobs[label] = (kind, job.run_id)
        return job.run_id

    cnn = ModelConfig(name="cnn", params={"channels": [8, 16], "fc": [16]})
    cls = run("classifier", RunConfig(data=shapes, model=cnn, train=train), "train")
    run(
        "autoencoder",
        RunConfig(
            data=shapes,
            model=ModelConfig(name="conv_autoencoder", params={"code": 8}),
            optim=OptimConfig(name="adam", lr=1e-3),
            train=TrainConfig(task="reconstruct", epochs=1.0, batch_size=32, device="cpu", precision="fp32"),
        ),
        "train",
    )
    run(
        "transfer",
        RunConfig(
            data=shapes,
            model=ModelConfig(name="transfer", params={"backbone": "run", "weights": "run", "source_run": cls}),
            train=train,
        ),
        "train",
    )
    run("feature visualisation", ins.FeatureVis(cls, "features.0.0", steps=4), "featvis")
    run("style transfer", style.StyleJob(style.StyleSettings(backbone=f"run:{cls}", size=40, steps=4)), "style")
    run(
        "initialisation race",
        InitRace(
            RunConfig(
                data=shapes, model=cnn, train=TrainConfig(epochs=0.25, batch_size=32, device="cpu", precision="fp32")
            ),
            {"zeros": ("zeros", {}), "kaiming": ("kaiming_normal", {})},
        ),
        "initrace",
    )
    yield m, owner, jobs
    m.shutdown()
    reset_manager()


def test_every_job_kind_on_the_teacher_page_and_the_projector(every_kind):
    m, owner, jobs = every_kind
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60)
    at.run()
    at.query_params["key"] = KEY
    at.switch_page("app_pages/teacher.py").run()
    no_errors(at)
    table = at.dataframe[0].value
    assert {rid for _, rid in jobs.values()} <= set(table["run"]), table[["run", "kind"]]
    at.toggle(key="tv_projector").set_value(True).run()
    no_errors(at)
    pick = at.selectbox(key="tv_proj_pick")
    trains = {rid for kind, rid in jobs.values() if kind == "train"}
    assert {o.split(" · ")[-1] for o in pick.options} == trains  # the training runs: classifier, autoencoder, transfer
    for rid in trains:
        at.selectbox(key="tv_proj_pick").set_value(rid).run()
        no_errors(at)
        assert at.get("plotly_chart"), rid
        label = next(x.label for x in at.metric if x.label.startswith("test "))
        assert label == ("test PSNR (dB)" if rid == jobs["autoencoder"][1] else "test accuracy"), (rid, label)


def test_every_job_kind_opens_from_the_sidebar_on_its_page(every_kind):
    """The sidebar lists every run of the session (all six kinds) and each link opens its page cleanly."""
    from playground.jobs.kinds import JOB_KINDS

    m, owner, jobs = every_kind
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60)
    at.session_state["owner"] = owner
    at.session_state["my_runs"] = [rid for _, rid in jobs.values()]
    at.run()
    no_errors(at)
    links = [p for p in at.sidebar.get("page_link")]
    for label, (kind, rid) in jobs.items():
        assert any(rid[-6:] in p.proto.label for p in links), (label, [p.proto.label for p in links])
        k = JOB_KINDS.get(kind)
        for q, v in k.page_query(rid).items():
            at.query_params[q] = v
        at.switch_page(f"app_pages/{k.page}.py").run()
        no_errors(at)
        at.query_params.clear()


def test_transfer_keeps_the_head_rate_images_and_epochs_when_an_image_folder_is_chosen(app, cifar_jpg, tmp_path):
    folder = photo_folder(cifar_jpg, tmp_path / "photos", per_class=8)
    at = app.run()
    at.switch_page("app_pages/transfer.py").run()
    no_errors(at)
    lr, limit = at.number_input(key="tl_lr").value, at.number_input(key="tl_limit").value
    at.number_input(key="tl_epochs").set_value(5.0).run()
    at.selectbox(key="tl_dataset").set_value("image_folder").run()  # no folder yet: the page waits for one
    at.text_input(key="tl_folder").set_value(str(folder)).run()
    no_errors(at)
    assert at.number_input(key="tl_lr").value == lr > 0
    assert at.number_input(key="tl_limit").value == limit and at.number_input(key="tl_epochs").value == 5.0


# -- the transfer architecture on the Train page: pickers from the model entry's facts, offline ------------

SHAPES = {"t_d_shapes__n_train": 200, "t_d_shapes__n_test": 50}


def mobilenet_home(home: Path) -> Path:
    """A TORCH_HOME whose hub cache holds mobilenet_v3_small's file (its real keys and shapes, random weights):
    what a student's machine has after one download, here without the network."""
    import torch
    from torchvision.models import get_model

    from playground.weights import resolve_weights

    f = home / "hub" / "checkpoints" / Path(resolve_weights("mobilenet_v3_small").url).name
    f.parent.mkdir(parents=True)
    torch.save(get_model("mobilenet_v3_small", weights=None).state_dict(), f)
    return home


def open_setup(at) -> None:
    """The setup form again, with no run on the page (it folds under a run once one starts)."""
    at.query_params.clear()
    at.session_state["t_setup"] = True
    at.switch_page("app_pages/train.py").run()


def test_transfer_from_the_train_page_uses_pickers_and_trains_from_my_own_run(app, tmp_path, monkeypatch):
    from app_pages.common import job_manager

    monkeypatch.setenv("TORCH_HOME", str(mobilenet_home(tmp_path / "torch")))
    at = app.run()
    cls = train_from_page(at, "shapes", None, epochs=1.0, **SHAPES)  # the student's own classifier
    assert wait_finished(cls) == "done"
    open_setup(at)
    at.selectbox(key="t_dataset").set_value("shapes").run()
    for key, value in SHAPES.items():
        at.slider(key=key).set_value(value).run()
    at.selectbox(key="t_model").set_value("transfer").run()
    no_errors(at)
    # ImageNet weights from the cache: the backbone and weights are pickers, the size starts at a size, no
    # download (the file is there), and nothing is typed
    weights = at.radio(key="t_m_transfer__weights")
    assert list(weights.options) == ["ImageNet (torch hub cache)", "one of my runs", "none: from scratch"]
    assert weights.value == "imagenet"
    assert at.selectbox(key="t_m_transfer__backbone").value == "mobilenet_v3_small"
    assert at.select_slider(key="t_m_transfer__image_size").value == 64
    assert not [w for w in at.text_input if (w.key or "").startswith("t_m_")]
    assert not [w for w in at.checkbox if w.key == "t_m_transfer__download"]
    # one of my runs: the source run is picked from the runs this session trained
    weights.set_value("run").run()
    no_errors(at)
    source = at.selectbox(key="t_m_transfer__source_run")
    assert source.value == cls and [o.split(" ")[0] for o in source.options] == [cls]
    assert source.options[0].endswith("(cnn on shapes)")
    freeze = at.select_slider(key="t_m_transfer__freeze_run")
    assert freeze.value == "train only the new head"
    freeze.set_value("fine-tune everything").run()
    at.slider(key="t_m_transfer__backbone_lr_scale").set_value(0.5).run()
    at.number_input(key="t_epochs").set_value(1.0).run()
    at.selectbox(key="t_precision").set_value("fp32").run()
    no_errors(at)
    at.button(key="t_start").click().run()
    no_errors(at)
    run_id = qp(at, "run")
    assert run_id != cls and wait_finished(run_id) == "done"
    params = dict(job_manager().store.open(run_id).config().model.params)
    assert (params["backbone"], params["weights"], params["source_run"]) == ("run", "run", cls)
    assert (params["freeze"], params["backbone_lr_scale"]) == ("finetune_all", 0.5)
    at.run()
    no_errors(at)
    assert any(m.label == "test accuracy" for m in at.metric)


def test_transfer_from_the_train_page_with_imagenet_weights_in_the_cache(app, tmp_path, monkeypatch):
    from app_pages.common import job_manager

    monkeypatch.setenv("TORCH_HOME", str(mobilenet_home(tmp_path / "torch")))
    at = app.run()
    at.switch_page("app_pages/train.py").run()
    at.selectbox(key="t_model").set_value("transfer").run()
    at.select_slider(key="t_m_transfer__image_size").set_value(32).run()
    run_id = train_from_page(at, "shapes", None, epochs=1.0, **SHAPES)
    assert wait_finished(run_id) == "done"
    from playground.models import MODELS

    params = {**MODELS.params("transfer"), **job_manager().store.open(run_id).config().model.params}
    assert (params["backbone"], params["weights"], params["image_size"], params["download"]) == (
        "mobilenet_v3_small",
        "imagenet",
        32,
        False,
    )
    assert params["freeze"] == "head_only"


def test_transfer_with_imagenet_weights_not_in_the_cache_says_what_to_do(app, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))
    at = app.run()
    at.switch_page("app_pages/train.py").run()
    at.selectbox(key="t_model").set_value("transfer").run()
    assert not at.exception
    assert any("not in the torch hub cache" in w.value for w in at.warning)
    assert not [b for b in at.button if b.key == "t_start"]  # nothing to start from until the box is ticked
    at.checkbox(key="t_m_transfer__download").check().run()
    assert [b for b in at.button if b.key == "t_start"]


# -- Fashion-MNIST where present: trained from the Train page, looked inside -------------------------------


@pytest.fixture(scope="session")
def fashion_root() -> Path:
    """The folder holding FashionMNIST/raw (torchvision's layout), else a skip that says so. Optional data: the
    shared folder (../shared/data, see its README) holds MNIST and a CIFAR folder only, so PLAYGROUND_REQUIRE_DATA
    does not turn this skip into a failure (conftest's ``_need`` is for the data every machine has)."""
    from conftest import SHARED_DATA

    raw = SHARED_DATA / "FashionMNIST" / "raw"
    if not raw.is_dir():
        pytest.skip(
            f"Fashion-MNIST not found at {raw} (optional: put torchvision's FashionMNIST/raw there, or "
            "set PLAYGROUND_SHARED_DATA to a folder that has it)"
        )
    return SHARED_DATA


def test_fashion_mnist_trains_from_the_train_page_and_is_looked_inside(app, fashion_root):
    at = app.run()
    run_id = train_from_page(at, "fashion_mnist", str(fashion_root), epochs=1.0, t_limit=2000)
    assert wait_finished(run_id) == "done"
    at.run()
    no_errors(at)
    assert any(m.label == "test accuracy" for m in at.metric)
    at.switch_page("app_pages/inside.py").run()
    no_errors(at)
    assert at.selectbox(key="i_run").value == run_id
    at.query_params["tab"] = "Saliency & Grad-CAM"
    at.run()
    no_errors(at)
    assert len(at.selectbox(key="i_s_cls").options) == 11  # the predicted class, and Fashion-MNIST's ten
