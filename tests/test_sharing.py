"""Sharing and isolation on a classroom server (AppTest): run lists show the session's own runs (plus the
run its link names), a viewer never writes into a run folder and downloads no server path, the link a
page invites to share carries no control key, and a transfer run keeps its Stop button after a reload."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest
import torch
from streamlit.elements.widgets import button as st_button
from streamlit.testing.v1 import AppTest

from playground.config import RunConfig, without_server_paths
from playground.export import checkpoint_without_server_paths, run_training_script
from playground.jobs.manager import reset_manager
from playground.runs import RunStore
from playground.train import fit

ROOT = Path(__file__).resolve().parents[1]
SECRET = "/srv/playground/uploads/alice-session/dataset-0123456789ab"  # the owner's upload folder
SMALL = {"n_train": 200, "n_test": 50}


def _cnn(**data) -> RunConfig:
    return RunConfig().replace(
        data={"params": SMALL, **data},
        model={"params": {"channels": [4, 8], "fc": []}},
        optim={"name": "adam", "lr": 1e-3, "schedule": "constant"},
        train={"epochs": 1, "batch_size": 50},
    )


def _autoencoder() -> RunConfig:
    return RunConfig.from_dict(
        {
            "data": {
                "dataset": "shapes",
                "train_limit": 96,
                "data_root": SECRET,
                "params": {"n_train": 128, "n_test": 64},
            },
            "model": {"name": "conv_autoencoder", "params": {"code": 8, "channels": [4, 8]}},
            "optim": {"lr": 3e-3, "schedule": "constant"},
            "train": {"task": "reconstruct", "epochs": 1, "batch_size": 32, "device": "cpu", "eval_batch_size": 500},
        }
    )


def _transfer() -> RunConfig:
    return RunConfig.from_dict(
        {
            "data": {
                "dataset": "shapes",
                "train_limit": 96,
                "data_root": SECRET,
                "params": {"n_train": 128, "n_test": 64},
            },
            "model": {
                "name": "transfer",
                "params": {"backbone": "mobilenet_v3_small", "weights": "none", "image_size": 32},
            },
            "optim": {"name": "adam", "lr": 3e-3, "schedule": "constant"},
            "train": {"epochs": 1, "batch_size": 32, "device": "cpu", "eval_batch_size": 500},
        }
    )


@pytest.fixture(scope="module")
def others(tmp_path_factory) -> dict[str, str]:
    """A run store with runs no test session started: two CNNs (one trained on the owner's upload folder)
    and a transfer model."""
    store = RunStore(tmp_path_factory.mktemp("shared") / "runs")
    out = {}
    for name, cfg in (
        ("alice", _cnn(data_root=SECRET)),
        ("bob", _cnn()),
        ("transfer", _transfer()),
        ("ae", _autoencoder()),
    ):
        events = list(fit(cfg, store=store))
        assert events[-1]["kind"] == "done", events[-1]
        out[name] = events[0]["run_id"]
    out["root"] = str(store.root)
    return out


@pytest.fixture
def app(others, tmp_path, monkeypatch):
    """A fresh session (AppTest) over the shared run store; ``app()`` makes another one (a reload)."""
    monkeypatch.setenv("PLAYGROUND_RUNS", others["root"])
    monkeypatch.setenv("PLAYGROUND_UPLOADS", str(tmp_path / "uploads"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no pretrained weights, no download
    reset_manager()

    def new(**query: str) -> AppTest:
        at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
        for k, v in query.items():
            at.query_params[k] = v
        return at

    yield new
    from app_pages.common import job_manager

    job_manager().shutdown()
    reset_manager()


@pytest.fixture
def offered(monkeypatch) -> dict[str, object]:
    """file name -> the data every download button offers (bytes, text, or the callable of a deferred one)."""
    files: dict[str, object] = {}
    real = st_button.marshall_file

    def spy(coordinates, data, proto, mimetype, file_name=None, **kw):
        files[file_name] = data
        return real(coordinates, data, proto, mimetype, file_name, **kw)

    monkeypatch.setattr(st_button, "marshall_file", spy)
    return files


def _qp(at, key):
    v = at.query_params[key]
    return v if isinstance(v, str) else v[0]


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _open(at, page: str, tab: str | None = None) -> AppTest:
    at.run()
    at.switch_page(f"app_pages/{page}.py").run()
    if tab:
        at.query_params["tab"] = tab
        at.run()
    return at


def _ids(options) -> list[str]:
    return [o.split(" · ")[0] for o in options]


# -- run lists: the session's own runs, plus the run its link names --------------------------------


def test_inside_lists_only_my_runs_unless_a_link_names_another(app, others):
    at = app()
    at.session_state["my_runs"] = [others["bob"]]  # this session started bob's run
    _open(at, "inside")
    _ok(at)
    assert _ids(at.selectbox(key="i_run").options) == [others["bob"]]  # alice's run is not listed
    _open(at, "inside", "Compare runs")
    assert _ids(at.multiselect(key="i_c_runs").options) == [others["bob"]]

    at = _open(app(run=others["alice"]), "inside")  # alice's view link
    _ok(at)
    assert _ids(at.selectbox(key="i_run").options) == [others["alice"]]
    assert at.selectbox(key="i_run").value == others["alice"]
    _open(at, "inside", "Compare runs")
    assert _ids(at.multiselect(key="i_c_runs").options) == [others["alice"]]


def test_a_link_to_another_sessions_run_lists_nothing_when_the_server_does_not_share(app, others, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_SHARE_RUNS", "none")
    at = _open(app(run=others["alice"]), "inside")
    assert not at.exception
    assert at.selectbox(key="i_run").options == []
    _open(at, "inside", "Compare runs")
    assert not at.multiselect


def test_a_link_with_the_control_key_makes_the_run_mine(app, others, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_SHARE_RUNS", "none")
    run = RunStore(others["root"]).open(others["bob"])
    run.write_control_key("bobs-key-0123")
    try:
        at = _open(app(run=others["bob"], ctl="bobs-key-0123"), "inside")
        _ok(at)
        assert _ids(at.selectbox(key="i_run").options) == [others["bob"]]
        assert others["bob"] in at.session_state["my_runs"]
    finally:
        (run.dir / "control.key").unlink()


def test_style_lists_only_my_feature_runs_unless_a_link_names_another(app, others):
    at = app()
    at.session_state["my_runs"] = [others["bob"]]
    _open(at, "style")
    assert not at.exception
    runs = [o.split(":")[0] for o in at.selectbox(key="s_backbone").options if "playground-trained" in o]
    assert runs == [f"run {others['bob']}"]  # the options as shown: "run <id>: cnn on shapes, ..."
    at = _open(app(run=others["alice"]), "style")
    runs = [o.split(":")[0] for o in at.selectbox(key="s_backbone").options if "playground-trained" in o]
    assert runs == [f"run {others['alice']}"]


def test_transfer_lists_only_my_source_runs_unless_a_link_names_another(app, others):
    at = _open(app(), "transfer")
    at.radio(key="tl_source").set_value("run").run()
    assert not at.exception
    assert any("No finished runs of yours" in i.value for i in at.info)  # alice and bob's runs are not offered
    assert not any(s.key == "tl_source_run" for s in at.selectbox)
    at = _open(app(run=others["transfer"]), "transfer")  # its view link
    at.radio(key="tl_source").set_value("run").run()
    assert not at.exception
    assert [o.split(" ")[0] for o in at.selectbox(key="tl_source_run").options] == [others["transfer"]]


# -- a viewer's downloads: nothing written into the run folder, no server path ---------------------


def _folder(run_dir: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in run_dir.iterdir()}


def test_a_viewers_onnx_export_leaves_the_run_folder_as_it_was(app, others):
    run_dir = Path(others["root"]) / others["alice"]
    before = _folder(run_dir)
    at = _open(app(run=others["alice"]), "train")
    _ok(at)
    at.button(key="x_onnx").click().run()
    _ok(at)
    assert any("checked with onnxruntime" in c.value for c in at.caption)
    assert _folder(run_dir) == before  # no model.onnx, no temporary file
    data = at.session_state[f"onnx_bytes_{others['alice']}"]
    assert isinstance(data, bytes) and len(data) > 1000
    import onnxruntime as ort

    assert [i.name for i in ort.InferenceSession(data, providers=["CPUExecutionProvider"]).get_inputs()] == ["images"]
    assert any(b.label == "Model (.onnx)" for b in at.get("download_button"))


def test_a_viewers_settings_script_and_model_name_no_server_folder(app, others, offered):
    rid = others["alice"]
    at = _open(app(run=rid), "train")
    _ok(at)
    settings = offered[f"{rid}-config.json"]
    assert SECRET not in settings and json.loads(settings)["data"]["data_root"] is None
    assert RunConfig.from_json(settings) == without_server_paths(RunStore(others["root"]).open(rid).config())
    script = offered[f"{rid}.py"]
    assert SECRET not in script and "data_root" in script  # the settings are there, the folder is not
    model = offered[f"{rid}.pt"]
    assert callable(model)  # made when pressed: the model file is not read on every rerun
    state = torch.load(io.BytesIO(model()), weights_only=True)
    assert state["config"]["data"]["data_root"] is None and SECRET not in json.dumps(state["config"])
    assert set(state) == set(RunStore(others["root"]).open(rid).load_checkpoint(final=True))  # weights kept


def test_a_viewers_autoencoder_downloads_name_no_server_folder(app, others, offered):
    rid = others["ae"]
    at = _open(app(run=rid), "autoencode")
    _ok(at)
    settings = offered[f"{rid}-config.json"]
    assert SECRET not in settings and json.loads(settings)["data"]["data_root"] is None
    state = torch.load(io.BytesIO(offered[f"{rid}.pt"]()), weights_only=True)
    assert SECRET not in json.dumps(state["config"])
    assert SECRET not in RunStore(others["root"]).open(rid).metrics_csv()


def test_the_controlling_session_keeps_the_run_folders_files(app, others, offered):
    rid = others["alice"]
    run = RunStore(others["root"]).open(rid)
    run.write_control_key("alices-key-0123")
    try:
        at = _open(app(run=rid, ctl="alices-key-0123"), "train")
        _ok(at)
        assert offered[f"{rid}-config.json"] == run.config_path.read_text()
        assert SECRET in offered[f"{rid}.py"]
        assert offered[f"{rid}.pt"] == run.model_path.read_bytes()
    finally:
        (run.dir / "control.key").unlink()


def test_the_core_helpers_drop_only_the_server_folder(others):
    run = RunStore(others["root"]).open(others["alice"])
    assert SECRET in run_training_script(run)
    assert SECRET not in run_training_script(run, server_paths=False)
    state = torch.load(io.BytesIO(checkpoint_without_server_paths(run.model_path)), weights_only=True)
    original = run.load_checkpoint(final=True)
    assert RunConfig.from_dict(state["config"]) == without_server_paths(RunConfig.from_dict(original["config"]))
    assert all(torch.equal(state["model"][k], v) for k, v in original["model"].items())
    assert SECRET in json.dumps(run.load_checkpoint(final=True)["config"])  # the file itself is unchanged


# -- the link a page invites to share carries no control key ---------------------------------------


def _links(at) -> list[str]:
    return [c.value for c in at.caption if "link" in c.value.lower()]


def test_the_view_only_links_carry_no_control_key(app, others):
    from app_pages.common import job_manager

    long = {"epochs": 200, "batch_size": 32}
    job = job_manager().submit(_cnn().replace(train=long), owner="teacher")
    ae = job_manager().submit(
        RunConfig.from_dict(
            {
                "data": {"params": SMALL},
                "model": {"name": "conv_autoencoder"},
                "optim": {"schedule": "constant"},
                "train": {"task": "reconstruct", "probes": ["live_recon"], **long},
            }
        ),
        owner="teacher",
    )
    try:
        at = _open(app(run=job.run_id, ctl=job.control_key), "train")
        _ok(at)
        assert any(b.key == "c_stop" for b in at.button)  # the key in the address bar: this tab controls it
        links = _links(at)
        assert any("View-only link to this run: `" in c and c.endswith(f"?run={job.run_id}`") for c in links)
        assert links and not any("ctl" in c or job.control_key in c for c in links)
        assert not any("address bar" in c.value for c in at.caption)
        at = _open(app(run=ae.run_id, ctl=ae.control_key), "autoencode")
        assert not at.exception
        assert any(b.key == "ae_stop" for b in at.button)
        links = _links(at)
        assert any(c.endswith(f"?run={ae.run_id}`") for c in links)
        assert not any("ctl" in c or ae.control_key in c for c in links)
    finally:
        job_manager().stop(job.run_id)
        job_manager().stop(ae.run_id)


# -- a transfer run keeps its Stop button after a reload -------------------------------------------


def test_a_transfer_run_keeps_its_stop_button_after_a_reload(app):
    from app_pages.common import job_manager

    at = _open(app(), "transfer")
    at.radio(key="tl_source").set_value("none").run()
    at.number_input(key="tl_limit").set_value(64).run()
    at.select_slider(key="tl_size").set_value(32).run()
    at.number_input(key="tl_epochs").set_value(500.0).run()  # still training while the test reloads
    at.button(key="tl_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    run_id, key = _qp(at, "run"), _qp(at, "ctl")
    assert key == job_manager().get(run_id).control_key
    try:
        assert any(b.key == "tl_from scratch_stop" for b in at.button)
        links = _links(at)
        assert any(c.endswith(f"?run={run_id}`") for c in links) and not any(key in c for c in links)

        reloaded = _open(app(run=run_id, ctl=key), "transfer")  # the same tab, reloaded: a new session
        assert not reloaded.exception, [e.value for e in reloaded.exception]
        assert job_manager().status(run_id) in ("queued", "running")
        assert any(b.key == "tl_from scratch_stop" for b in reloaded.button)
        assert run_id in reloaded.session_state["my_runs"]

        viewer = _open(app(run=run_id), "transfer")  # the view-only link, in another session
        assert not viewer.exception
        assert any(f"`{run_id}`" in m.value for m in viewer.markdown)  # the run panel, status and all
        assert not any(b.key == "tl_from scratch_stop" for b in viewer.button)
        assert any("View only" in c.value for c in viewer.caption)

        reloaded.button(key="tl_from scratch_stop").click().run()
        deadline = time.time() + 60
        while time.time() < deadline and job_manager().status(run_id) in ("queued", "running", "paused"):
            time.sleep(0.2)
        assert job_manager().status(run_id) == "stopped"
    finally:
        job_manager().stop(run_id)


def test_on_a_shared_server_the_controlling_session_gets_copies_without_server_folders(
    app, others, offered, monkeypatch
):
    """The session that controls a run gets its files as they are on a laptop (its own machine's folders:
    the test above), but on a shared server (PLAYGROUND_CLASSROOM=1: no folder box) the copies a viewer gets:
    the upload folder the run trained on is the server's."""
    rid = others["alice"]
    monkeypatch.setenv("PLAYGROUND_CLASSROOM", "1")
    run = RunStore(others["root"]).open(rid)
    run.write_control_key("alices-key-0123")
    try:
        at = _open(app(run=rid, ctl="alices-key-0123"), "train")
        assert not at.exception, [e.value for e in at.exception]
        settings, script, model = offered[f"{rid}-config.json"], offered[f"{rid}.py"], offered[f"{rid}.pt"]
        assert SECRET not in settings and json.loads(settings)["data"]["data_root"] is None
        assert SECRET not in script
        assert callable(model) and SECRET not in json.dumps(
            torch.load(io.BytesIO(model()), weights_only=True)["config"]
        )
    finally:
        (run.dir / "control.key").unlink()
