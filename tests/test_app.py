"""AppTest for every page: renders without exceptions; the Train flow start -> events -> stop."""

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from playground.config import RunConfig
from playground.jobs.manager import reset_manager
from playground.train.snapshots import DEFAULT_PROBES

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("PLAYGROUND_UPLOADS", str(tmp_path / "uploads"))

    reset_manager()  # a fresh manager (and run store) per test
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    at.switch_page("app_pages/data.py")  # the app opens on Start (tests/test_start.py); these begin on Data
    yield at
    from app_pages.common import job_manager as jm

    jm().shutdown()
    reset_manager()


def _qp(at, key):
    v = at.query_params[key]
    return v if isinstance(v, str) else v[0]


def _no_errors(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


DATA_TABS = ["Samples", "Classes and pixels", "Augmentation", "Normalisation", "MLP vs CNN input"]


def _data_tab(at, name):
    at.query_params["tab"] = name  # the page's tabs are lazy and bound to ?tab=
    return at.run()


def test_data_page_renders_every_tab(app):
    at = app.run()
    _no_errors(at)
    assert at.metric[0].value == "10"  # shapes: ten classes
    assert [t.label for t in at.tabs] == DATA_TABS
    assert any("computed from the training split" in c.value for c in at.caption)
    # lazy: the first open draws the samples only, no other tab's figures or widgets
    assert len(at.get("plotly_chart")) == 0 and not any(s.key == "d_draws" for s in at.slider)
    charts = {"Classes and pixels": 2, "Augmentation": 0, "Normalisation": 4, "MLP vs CNN input": 2}
    for name, n in charts.items():
        _data_tab(at, name)
        _no_errors(at)
        assert len(at.get("plotly_chart")) == n, name
        assert not any(s.key == "d_n" for s in at.slider), name  # the Samples tab is not drawn meanwhile
    assert any(s.key == "d_draws" for s in _data_tab(at, "Augmentation").slider)


def test_data_page_keeps_a_tabs_settings_while_another_is_open(app):
    at = _data_tab(app.run(), "Augmentation")
    at.slider(key="d_draws").set_value(8).run()
    at.multiselect(key="d_aug").set_value(["hflip"]).run()
    _data_tab(at, "Normalisation")
    at.number_input(key="d_norm_idx").set_value(5).run()
    _data_tab(at, "MLP vs CNN input")  # two runs with the Augmentation tab closed
    at = _data_tab(at, "Augmentation")
    _no_errors(at)
    assert at.slider(key="d_draws").value == 8 and at.multiselect(key="d_aug").value == ["hflip"]
    assert _data_tab(at, "Normalisation").number_input(key="d_norm_idx").value == 5


def test_a_live_view_polls_a_queued_run_less_often_and_an_ended_one_never():
    from app_pages.run_panel import LIVE_S, QUEUED_S, left_queue, refresh_every

    assert refresh_every("running") == refresh_every("paused") == LIVE_S == 1.0 < QUEUED_S == refresh_every("queued")
    assert refresh_every("queued", "running") == LIVE_S  # one of the runs on the page trains
    assert refresh_every("queued", "done") == QUEUED_S and refresh_every("done", "stopped") is None
    assert left_queue("queued", "running") and left_queue("queued", "stopped")
    assert not left_queue("running", "done") and not left_queue("queued", "queued")


def test_data_page_augmentation_parameters_are_sliders_over_the_registry_range(app):
    at = _data_tab(app.run(), "Augmentation")
    degrees = at.slider(key="d_augp_rotation__degrees")  # a control, no text to mistype (degrees=999 was one)
    assert (degrees.min, degrees.max, degrees.value) == (0.0, 180.0, 15.0)
    degrees.set_value(180.0).run()
    at.multiselect(key="d_aug").set_value(["random_resized_crop"]).run()
    assert at.slider(key="d_augp_random_resized_crop__scale").value == (0.5, 1.0)
    at.slider(key="d_augp_random_resized_crop__scale").set_value((0.2, 0.9)).run()
    _no_errors(at)


def test_data_page_offline_data_set_explains(app, tmp_path):
    at = app.run()
    at.text_input(key="d_root").input(str(tmp_path / "empty")).run()
    at.selectbox(key="d_dataset").select("cifar10").run()
    assert not at.exception
    assert any("shapes" in e.value and "cifar-10-python.tar.gz" in e.value for e in at.error)


def test_train_page_renders_with_defaults(app):
    at = app.run()
    at.switch_page("app_pages/train.py").run()
    _no_errors(at)
    assert at.button(key="t_start").label == "Start training"
    # the link holds the setup: the defaults, plus the probes the Train page records by default
    assert RunConfig.from_url(_qp(at, "cfg")) == RunConfig().replace(train={"probes": DEFAULT_PROBES})


def test_train_page_explains_bad_settings(app):
    import base64
    import json
    import zlib

    at = app
    bad = RunConfig().to_dict()
    bad["optim"]["lr"] = -1.0  # a hand-made link: the slider itself cannot go there
    at.query_params["cfg"] = base64.urlsafe_b64encode(zlib.compress(json.dumps(bad).encode())).decode().rstrip("=")
    at.run()
    at.switch_page("app_pages/train.py").run()
    assert not at.exception
    assert any("learning rate" in e.value for e in at.error) and any("defaults" in w.value for w in at.warning)
    at.session_state["t_m_cnn_blocks"] = {"edited_rows": {"1": {"channels": "x"}}, "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.exception and any("Conv block 2: channels" in e.value for e in at.error)


def _edit(at, key, edited=None, added=(), deleted=()):
    """A data_editor edit as the browser sends it (AppTest cannot type into cells)."""
    at.session_state[key] = {"edited_rows": edited or {}, "added_rows": list(added), "deleted_rows": list(deleted)}
    return at.run()


def _picture(at):
    """The architecture picture: layer -> (output shape, parameters)."""
    rows = [d for d in at.dataframe if d.editing_mode == "read_only"][-1].value
    return {r["layer"].split(" · ")[0]: (r["output"], r["parameters"]) for _, r in rows.iterrows()}


def test_train_page_layer_table_and_architecture_picture(app):
    at = app.run()
    at.switch_page("app_pages/train.py").run()
    _no_errors(at)
    assert at.data_editor(key="t_m_cnn_blocks").value["channels"].tolist() == [16, 32, 64]
    before = _picture(at)
    assert before["conv 3"][0] == "64 × 4 × 4" and "conv 4" not in before
    block = {"channels": 128, "kernel": 3, "pool": "max", "batch_norm": True}
    _edit(at, "t_m_cnn_blocks", {"0": {"channels": 8}}, [block])  # a fourth block; the first gets 8 channels
    _no_errors(at)
    after = _picture(at)
    assert after["conv 1"] == ("8 × 16 × 16", 8 * 3 * 9 + 2 * 8) and after["conv 4"][0] == "128 × 2 × 2"
    assert after["flatten"][0] == "512" and after["fc 1"][1] < before["fc 1"][1]
    for bad, words in ((0, "channels is 0"), ("x", "channels is empty")):  # a NumberColumn sends text as None
        _edit(at, "t_m_cnn_blocks", {"0": {"channels": bad}}, [block])
        assert not at.exception and any(words in e.value for e in at.error), [e.value for e in at.error]
    _edit(at, "t_m_cnn_blocks", {"0": {"channels": 8}}, [block])
    _no_errors(at)
    at.number_input(key="t_limit").set_value(500).run()
    at.number_input(key="t_epochs").set_value(0.2).run()
    at.button(key="t_start").click().run()
    _no_errors(at)
    from app_pages.common import job_manager

    run_id = _qp(at, "run")
    cfg = job_manager().store.open(run_id).config()
    job_manager().stop(run_id)
    assert cfg.model.params == {"channels": [8, 32, 64, 128]}


def test_train_page_mlp_hidden_layers_table(app):
    at = app.run()
    at.switch_page("app_pages/train.py").run()
    at.selectbox(key="t_model").set_value("mlp").run()
    _no_errors(at)
    assert _picture(at)["fc 1"] == ("256", 3 * 32 * 32 * 256 + 256)
    _edit(at, "t_m_mlp_hidden", {"0": {"units": 64}}, deleted=[1])
    _no_errors(at)
    assert _picture(at)["fc 1"][0] == "64" and "fc 2" not in _picture(at)
    assert RunConfig.from_url(_qp(at, "cfg")).model.params == {"hidden": [64]}


def test_train_flow_start_events_stop(app):
    at = app.run()
    at.switch_page("app_pages/train.py").run()
    at.number_input(key="t_limit").set_value(1000).run()
    at.number_input(key="t_epochs").set_value(50.0).run()
    at.selectbox(key="t_precision").set_value("fp32").run()
    at.button(key="t_start").click().run()
    _no_errors(at)
    run_id = _qp(at, "run")
    from app_pages.common import job_manager

    job = job_manager().get(run_id)
    deadline = time.time() + 60
    while time.time() < deadline and len(job.buffer.snapshot()["steps"]["step"]) < 2:
        time.sleep(0.2)
    assert job.buffer.snapshot()["steps"]["step"], "no step events arrived"
    at.run()
    _no_errors(at)
    assert any(m.label == "train loss" for m in at.metric)
    assert job.config.train.precision == "fp32" and any("(fp32" in c.value for c in at.caption), [
        c.value for c in at.caption
    ]
    at.select_slider(key="c_lr").set_value(0.0002).run()  # change the learning rate while it trains
    at.button(key="c_lr_apply").click().run()
    _no_errors(at)
    deadline = time.time() + 60
    while time.time() < deadline and not job.buffer.snapshot()["sets"]:
        time.sleep(0.2)
    assert job.buffer.snapshot()["sets"][0]["lr"] == pytest.approx(0.0002)
    at.button(key="c_pause").click().run()  # pause, then train one batch by hand and see it
    at.run()
    _no_errors(at)
    at.button(key="c_step").click().run()
    _no_errors(at)
    deadline = time.time() + 60
    while time.time() < deadline and not job.buffer.snapshot()["batch"]:
        time.sleep(0.2)
    at.run()
    _no_errors(at)
    step = job.buffer.snapshot()["batch"]["step"]
    assert any(f"Step {step}** trained on" in m.value for m in at.markdown)
    shown = [i.proto.imgs for i in at.get("image") if any("→" in m.caption for m in i.proto.imgs)]
    assert len(shown) == 1 and len(shown[0]) == 16, [len(i.proto.imgs) for i in at.get("image")]
    assert job_manager().status(run_id) == "paused"
    at.button(key="c_stop").click().run()
    job.thread.join(30)
    assert job.state == "stopped"
    at.run()
    assert any("stopped" in m.value for m in at.markdown)
    assert any(b.label == "Metrics (.csv)" for b in at.get("download_button"))


def test_train_page_reopens_a_finished_run_from_the_store(app, tmp_path):
    from playground.runs import RunStore
    from playground.train import fit

    cfg = RunConfig().replace(data={"params": {"n_train": 200, "n_test": 50}}, train={"epochs": 1, "batch_size": 50})
    events = list(fit(cfg, store=RunStore(tmp_path / "runs")))
    at = app
    at.query_params["run"] = events[0]["run_id"]
    at.run()
    at.switch_page("app_pages/train.py").run()
    _no_errors(at)
    assert any("done" in m.value for m in at.markdown)
    assert any(m.label == "test accuracy" for m in at.metric)


def test_train_page_unknown_run_id(app):
    at = app
    at.query_params["run"] = "nonexistent-run-123"
    at.run()
    at.switch_page("app_pages/train.py").run()
    assert not at.exception
    assert any("No run" in e.value for e in at.error)


def test_shared_link_opens_the_same_setup(app):
    cfg = RunConfig().replace(optim={"lr": 0.02, "name": "nesterov"}, train={"batch_size": 64})
    at = app
    at.query_params["cfg"] = cfg.to_url()
    at.run()
    at.switch_page("app_pages/train.py").run()
    _no_errors(at)
    assert at.select_slider(key="t_lr").value == 0.02
    assert at.selectbox(key="t_opt").value == "nesterov"
    assert at.number_input(key="t_bs").value == 64


def test_a_link_keeps_its_data_set_options(app):
    cfg = RunConfig().replace(data={"params": {"n_train": 600, "seed": 3}, "train_limit": 500})
    at = app
    at.query_params["cfg"] = cfg.to_url()
    at.run()
    at.switch_page("app_pages/train.py").run()
    _no_errors(at)
    assert at.number_input(key="t_limit").value == 500
    kept = RunConfig.from_url(_qp(at, "cfg")).data  # what the page rebuilt from its widgets
    assert dict(kept.params) == {"n_train": 600, "seed": 3} and kept.train_limit == 500
    n_train = at.slider(key="t_d_shapes__n_train")  # a slider over the entry's range: one image a class at least
    assert n_train.min == 10
    n_train.set_value(1200).run()
    assert dict(RunConfig.from_url(_qp(at, "cfg")).data.params) == {"n_train": 1200, "seed": 3}


def test_a_damaged_or_stale_link_falls_back_to_defaults(app):
    bad = RunConfig().replace(data={"augment": ("no_such_aug",)})
    at = app
    at.query_params["cfg"] = bad.to_url()
    at.run()
    at.switch_page("app_pages/train.py").run()
    assert not at.exception
    assert any("Unknown augmentation" in e.value for e in at.error)
    assert any("defaults are shown" in w.value for w in at.warning)


def test_a_run_link_without_the_key_is_view_only(app, tmp_path):
    from app_pages.common import job_manager

    cfg = RunConfig().replace(data={"params": {"n_train": 320, "n_test": 64}}, train={"epochs": 200, "batch_size": 32})
    job = job_manager().submit(cfg, owner="someone-else")
    at = app
    at.query_params["run"] = job.run_id
    at.run()
    at.switch_page("app_pages/train.py").run()
    assert not at.exception
    assert not any(b.key == "c_stop" for b in at.button)
    assert any("View only" in c.value for c in at.caption)
    job_manager().stop(job.run_id)


def _finished_run(tmp_path) -> str:
    from playground.runs import RunStore
    from playground.train import fit

    cfg = RunConfig().replace(
        data={"params": {"n_train": 200, "n_test": 50}},
        model={"params": {"channels": [4], "fc": []}},
        train={"epochs": 1, "batch_size": 50},
    )
    return list(fit(cfg, store=RunStore(tmp_path / "runs")))[0]["run_id"]


def test_a_finished_run_exports_onnx_and_a_script(app, tmp_path):
    from playground.runs import RunStore

    run_id = _finished_run(tmp_path)
    RunStore(tmp_path / "runs").open(run_id).write_control_key("the-starting-tabs-key")
    at = app
    at.query_params["run"] = run_id
    at.query_params["ctl"] = "the-starting-tabs-key"  # the controlling session writes model.onnx (a viewer: no)
    at.run()
    at.switch_page("app_pages/train.py").run()
    _no_errors(at)
    at.button(key="x_onnx").click().run()
    _no_errors(at)
    assert any("checked with onnxruntime" in c.value for c in at.caption)
    assert (tmp_path / "runs" / run_id / "model.onnx").exists()


def test_runs_of_others_are_hidden_when_the_server_does_not_share(app, tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_SHARE_RUNS", "none")
    run_id = _finished_run(tmp_path)
    at = app
    at.query_params["run"] = run_id
    at.run()
    at.switch_page("app_pages/train.py").run()
    assert not at.exception
    assert any("does not show other sessions' runs" in w.value for w in at.warning)
    assert not any(m.label == "test accuracy" for m in at.metric)


def test_classroom_mode_refuses_server_folders(app, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_CLASSROOM", "1")
    cfg = RunConfig().replace(data={"dataset": "image_folder", "data_root": "/etc"})
    at = app
    at.query_params["cfg"] = cfg.to_url()
    at.run()
    at.switch_page("app_pages/train.py").run()
    assert not at.exception
    assert any("only your own uploads" in e.value for e in at.error)
    at.switch_page("app_pages/data.py").run()
    at.selectbox(key="d_dataset").select("image_folder").run()
    assert not at.exception
    assert not any(t.key == "d_folder" for t in at.text_input)  # no free folder path on a shared server
