import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from playground.cli import build_parser, main
from playground.config import RunConfig
from playground.flags import config_from_args
from playground.runs import RunStore

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, cwd=None, timeout=600):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "playground", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
    )


def test_every_config_field_has_a_flag():
    parser = build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    dests = {a.dest for a in train._actions}
    cfg = RunConfig().to_dict()
    for section, values in cfg.items():
        for name in values:
            assert f"{section}__{name}" in dests, f"no flag for {section}.{name}"


def test_flags_build_the_config():
    args = build_parser().parse_args(
        [
            "train",
            "--dataset",
            "mnist",
            "--data-root",
            "/d",
            "--augment",
            "hflip",
            "rotation:10",
            "--model",
            "mlp",
            "--model-param",
            "hidden=[64]",
            "--model-param",
            "activation=gelu",
            "--init",
            "kaiming_normal",
            "--optimizer",
            "nesterov",
            "--lr",
            "0.05",
            "--weight-decay",
            "5e-4",
            "--schedule",
            "onecycle",
            "--label-smoothing",
            "0.1",
            "--grad-clip",
            "1",
            "--batch-size",
            "64",
            "--epochs",
            "1.5",
            "--seed",
            "4",
            "--device",
            "cpu",
            "--no-checkpoint",
            "--target-acc",
            "0.99",
        ]
    )
    cfg = config_from_args(args)
    assert cfg.data.augment == ("hflip", "rotation:10") and cfg.data.data_root == "/d"
    assert cfg.model.params == {"hidden": [64], "activation": "gelu"} and cfg.model.name == "mlp"
    assert cfg.optim.name == "nesterov" and cfg.optim.lr == 0.05 and cfg.optim.weight_decay == 5e-4
    assert cfg.train.epochs == 1.5 and cfg.train.checkpoint is False and cfg.train.target_acc == 0.99
    assert cfg.data.dataset == "mnist" and cfg.train.seed == 4


def test_config_file_with_flag_overrides(tmp_path):
    f = tmp_path / "c.json"
    f.write_text(RunConfig().replace(optim={"lr": 0.2}, train={"seed": 9}).to_json())
    cfg = config_from_args(build_parser().parse_args(["train", "--config", str(f), "--seed", "1"]))
    assert cfg.optim.lr == 0.2 and cfg.train.seed == 1


def test_train_json_last_line(tmp_path):
    out = cli(
        "train",
        "--data-param",
        "n_train=300",
        "--data-param",
        "n_test=100",
        "--epochs",
        "1",
        "--batch-size",
        "50",
        "--runs",
        tmp_path / "runs",
        "--json",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert {"run_id", "test_acc", "train_seconds", "images_per_second", "device"} <= set(result)
    assert result["status"] == "done" and 0 <= result["test_acc"] <= 1 and result["device"] == "cpu"
    assert (tmp_path / "runs" / result["run_id"] / "metrics.jsonl").exists()
    assert "epoch 0" in out.stderr  # progress goes to stderr with --json


@pytest.mark.parametrize(
    "args, words",
    [
        (["--lr", "-1"], "learning rate"),
        (["--model", "nope"], "Choose one of"),
        (["--batch-size", "0"], "batch size"),
        (["--epochs", "0"], "epochs"),
        (["--model-param", "oops"], "key=value"),
        (["--dataset", "cifar10", "--data-root", "{tmp}", "--no-download"], "cifar-10-python.tar.gz"),
    ],
)
def test_bad_input_exits_2_with_a_message(tmp_path, args, words):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    out = cli("train", "--runs", tmp_path / "runs", "--json", *args, cwd=tmp_path)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["status"] == "error" and words in result["message"]


def test_list_names_everything():
    out = cli("list")
    assert out.returncode == 0
    for name in [
        "shapes",
        "mnist",
        "fashion_mnist",
        "cifar10",
        "image_folder",
        "mlp",
        "cnn",
        "lenet5",
        "resnet",
        "hflip",
        "rotation",
        "cutout",
        "kaiming_normal",
        "orthogonal",
        "adamw",
        "adadelta",
        "onecycle",
    ]:
        assert f"  {name} " in out.stdout


def test_runs_lists_the_store(tmp_path):
    cli(
        "train",
        "--data-param",
        "n_train=100",
        "--data-param",
        "n_test=50",
        "--epochs",
        "1",
        "--batch-size",
        "50",
        "--runs",
        tmp_path / "runs",
        "--quiet",
        cwd=tmp_path,
    )
    out = cli("runs", "--runs", tmp_path / "runs")
    assert "done" in out.stdout and "shapes" in out.stdout


def test_bench_prints_figures(mnist_root, tmp_path):
    out = cli(
        "bench", "--data-root", mnist_root, "--steps", "8", "--rounds", "2", "--skip-mnist99", "--json", cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout.strip().splitlines()[-1])
    for key in (
        "textbook_ips",
        "engine_ips",
        "compute_bound_ips",
        "engine_vs_textbook",
        "engine_vs_compute_bound",
        "mnist_seconds_to_99",
        "device",
    ):
        assert key in r
    assert r["textbook_ips"] > 0 and r["engine_ips"] > 0 and r["compute_bound_ips"] > 0
    assert len(r["rounds"]) == 2 and set(r["rounds"][0]) >= {"textbook", "engine", "compute_bound"}
    ratios = sorted(x["engine_vs_textbook"] for x in r["rounds"])
    assert r["engine_vs_textbook"] == pytest.approx(sum(ratios) / 2, rel=0.01)  # the median of the rounds' ratios
    assert r["spread"]["engine"]["min"] <= r["engine_ips"] <= r["spread"]["engine"]["max"]
    assert len(r["load_average"]["start"]) == 3 and "load average at start" in out.stderr


def test_summary_prints_layers_and_parameter_counts(tmp_path):
    out = cli("summary", "--model", "lenet5", "--data-param", "n_train=20", "--data-param", "n_test=10", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Conv2d" in out.stdout and "Total params: 62,006" in out.stdout


def test_a_failure_goes_to_stderr(tmp_path):
    out = cli("train", "--model", "nope", "--quiet", cwd=tmp_path)
    assert out.returncode == 2 and "Unknown model 'nope'" in out.stderr and "nope" not in out.stdout


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """One run trained through the CLI (shapes, 200 images, 2 epochs): (runs root, run id)."""
    tmp = tmp_path_factory.mktemp("cli-run")
    out = cli(
        "train",
        "--data-param",
        "n_train=200",
        "--data-param",
        "n_test=50",
        "--epochs",
        "2",
        "--batch-size",
        "20",
        "--runs",
        tmp / "runs",
        "--json",
        cwd=tmp,
    )
    assert out.returncode == 0, out.stderr
    return tmp / "runs", json.loads(out.stdout.strip().splitlines()[-1])["run_id"]


def test_predict_headless(cli_run, tmp_path):
    from PIL import Image

    from playground.data import load_dataset

    root, run_id = cli_run
    data = load_dataset("shapes", n_train=200, n_test=50)
    big = Image.fromarray(data.test_x[0].permute(1, 2, 0).numpy()).resize((300, 300)).convert("RGBA")
    path = tmp_path / "shape.webp"
    big.save(path)  # another format, size and mode than the model's input: the one image path copes
    pred = cli("predict", run_id, path, "--top", "3", "--runs", root, "--json", cwd=tmp_path)
    assert pred.returncode == 0, pred.stderr
    top = json.loads(pred.stdout)["top"]
    assert len(top) == 3 and all(t["class"] in data.classes for t in top)
    assert top[0]["probability"] >= top[1]["probability"] and sum(t["probability"] for t in top) <= 1.0001
    text = cli("predict", run_id, path, "--runs", root, cwd=tmp_path)
    assert "%" in text.stdout.splitlines()[0]
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"<svg xmlns='http://www.w3.org/2000/svg'/>")
    refused = cli("predict", run_id, bad, "--runs", root, cwd=tmp_path)
    assert refused.returncode == 2 and "error:" in refused.stderr and refused.stdout == ""


# The training script must run where only torch and torchvision are: the playground and the app's packages
# are blocked (as benchmarks/gpu_check.py blocks them for the core), so an import of one fails the run.
TORCH_ONLY = """
import runpy, sys
for m in ("playground", "streamlit", "plotly", "pandas", "onnx", "onnxruntime", "onnxscript"):
    sys.modules[m] = None
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def test_export_writes_csv_onnx_and_script_at_once(cli_run, tmp_path):
    import onnxruntime as ort
    import torch

    from playground import export
    from playground.models import build_model

    root, run_id = cli_run
    paths = {"csv": tmp_path / "metrics.csv", "onnx": tmp_path / "model.onnx", "script": tmp_path / "train.py"}
    exp = cli(
        "export", run_id, *[a for k, p in paths.items() for a in (f"--{k}", p)], "--runs", root, "--json", cwd=tmp_path
    )
    assert exp.returncode == 0, exp.stderr
    report = json.loads(exp.stdout)
    assert exp.stdout.count("\n") == 1 and "ONNX:" in exp.stderr  # stdout: the JSON line alone

    run = RunStore(root).open(run_id)  # the CSV: the app's Metrics download, one row per step / epoch event
    assert paths["csv"].read_bytes() == run.metrics_csv().encode()
    with open(paths["csv"], newline="") as fh:
        rows = list(csv.DictReader(fh))
    events = [e for e in run.events() if e["kind"] in ("step", "epoch", "set")]
    assert [(r["kind"], int(r["step"])) for r in rows] == [(e["kind"], e["step"]) for e in events]
    assert {
        "kind",
        "step",
        "epoch",
        "loss",
        "acc",
        "lr",
        "images_per_s",
        "t",
        "train_loss",
        "test_loss",
        "test_acc",
    } <= set(rows[0])
    epochs = [r for r in rows if r["kind"] == "epoch"]
    assert [r["epoch"] for r in epochs] == ["0", "1"] and sum(r["kind"] == "step" for r in rows) >= 2
    done = next(e for e in run.events() if e["kind"] == "done")
    assert float(epochs[-1]["test_acc"]) == pytest.approx(done["test_acc"])
    assert report["csv"] == {"path": str(paths["csv"]), "rows": len(rows)}

    model, meta, cfg = export.run_model(run)  # the ONNX file: the final model, normalisation inside
    x = torch.rand(5, *meta["shape"])
    sess = ort.InferenceSession(str(paths["onnx"]), providers=["CPUExecutionProvider"])
    (out,) = sess.run(None, {"images": x.numpy()})
    mean, std = (torch.tensor(meta[k]).view(1, -1, 1, 1) for k in ("mean", "std"))
    with torch.no_grad():
        assert torch.allclose(torch.from_numpy(out), model((x - mean) / std), atol=1e-4)
    assert report["onnx"]["max_abs_diff"] < 1e-4 and report["onnx"]["bytes"] == paths["onnx"].stat().st_size

    weights = tmp_path / "weights.pt"  # the script: trains with torch and torchvision alone
    r = subprocess.run(
        [sys.executable, "-c", TORCH_ONLY, paths["script"], "--out", weights, "--device", "cpu"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "epoch 2:" in r.stdout and "test accuracy" in r.stdout and report["script"] == str(paths["script"])
    state = torch.load(weights, weights_only=True)
    build_model(
        cfg.model.name, in_shape=tuple(meta["shape"]), num_classes=len(meta["classes"]), **dict(cfg.model.params)
    ).load_state_dict(state, strict=True)


def test_export_csv_alone_works_before_the_model_and_quotes_formulas(tmp_path):
    """A run that trains has metrics but no model: --csv writes them (text a spreadsheet would run as a
    formula quoted as in the class results), --onnx and --script are refused and nothing is written."""
    store = RunStore(tmp_path / "runs")
    run = store.create(RunConfig())
    run.append(
        {
            "kind": "step",
            "step": 1,
            "epoch": 0,
            "loss": -0.5,
            "acc": 0.1,
            "lr": 0.01,
            "t": 0.1,
            "note": '=HYPERLINK("http://x","y")',
        }
    )
    run.append({"kind": "step", "step": 2, "epoch": 0, "loss": 0.4, "acc": 0.2, "lr": 0.01, "t": 0.2, "note": "@SUM"})
    target = tmp_path / "m.csv"
    refused = cli("export", run.run_id, "--csv", target, "--onnx", tmp_path / "m.onnx", "--runs", store.root)
    assert refused.returncode == 2 and refused.stdout == "" and "no final model yet" in refused.stderr
    assert "--csv alone works now" in refused.stderr and not target.exists() and not (tmp_path / "m.onnx").exists()
    ok = cli("export", run.run_id, "--csv", target, "--runs", store.root)
    assert ok.returncode == 0, ok.stderr
    with open(target, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["note"] for r in rows] == ['\'=HYPERLINK("http://x","y")', "'@SUM"]
    assert rows[0]["loss"] == "-0.5"  # a negative number is a number, not a formula


def _main(capsys, *argv):
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as e:  # argparse's own errors
        rc = e.code
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.mark.parametrize(
    "argv, words",
    [
        (["export", "20200101-000000-AAAAAAAAAAAA", "--csv", "{tmp}/m.csv"], "`python -m playground runs --runs"),
        (["export", "nope", "--csv", "{tmp}/m.csv"], "is not a run id"),
        (["export", "{run}"], "Say what to export"),
        (["export", "{run}", "--csv", "{tmp}/m.csv", "--onnx", "{tmp}/no/such/m.onnx"], "does not exist; create it"),
        (["export", "{run}", "--csv", "{tmp}/m.csv", "--script", "{tmp}"], "is a folder"),
        (["export", "{run}", "--csv", "{tmp}/m.csv", "--script", "{tmp}/m.csv"], "same file"),
        (["export", "{run}", "--pdf", "{tmp}/m.pdf"], "unrecognized arguments: --pdf"),
        (["exprot", "{run}"], "invalid choice: 'exprot'"),
        (["predict", "20200101-000000-AAAAAAAAAAAA", "x.png"], "lists the runs"),
        (["resume", "20200101-000000-AAAAAAAAAAAA"], "lists the runs"),
        (["summary", "--model", "nope"], "Unknown model 'nope'. Choose one of"),
        (["train", "--optimizer", "nope"], "Unknown optimizer"),
        (["bench", "--device", "nope"], "device must be"),
        (["style", "--out", "{tmp}/no/such/x.png"], "does not exist"),
    ],
)
def test_errors_go_to_stderr_with_what_to_do(cli_run, tmp_path, capsys, argv, words):
    root, run_id = cli_run
    argv = [a.replace("{tmp}", str(tmp_path)).replace("{run}", run_id) for a in argv]
    rc, out, err = _main(capsys, *argv, *(["--runs", root] if argv[0] in ("export", "predict", "resume") else []))
    assert rc not in (0, None) and out == "" and words in err and "Traceback" not in err
    assert not (tmp_path / "m.csv").exists()  # every path is checked before anything is written
    if argv[0] == "export" and "--csv" in argv:  # with --json the JSON line is all stdout carries
        rc, out, err = _main(capsys, *argv, "--runs", root, "--json")
        assert rc == 2 and json.loads(out)["status"] == "error" and out.count("\n") == 1 and words in err


def test_an_export_error_from_the_command_line(tmp_path):
    out = cli("export", "20200101-000000-AAAAAAAAAAAA", "--onnx", tmp_path / "m.onnx", "--runs", tmp_path)
    assert out.returncode == 2 and out.stdout == "" and "error: No run" in out.stderr and "Traceback" not in out.stderr


GPU_CHECK = ROOT / "benchmarks" / "gpu_check.sh"


def gpu_check(*args, cwd, env=None, timeout=600):
    env = {**os.environ, "PYTHON": sys.executable, **(env or {})}
    return subprocess.run(
        ["bash", str(GPU_CHECK), *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_the_prepared_gpu_check_runs_on_a_cpu(tmp_path):
    """benchmarks/gpu_check.sh (gpu_check.py in a time limit) is run only when a GPU machine is lent: a shrunk
    CPU run, from another folder, keeps it working (the bench section is `playground bench`, tested on its own).
    The whole process runs with the packages the device machine lacks blocked, so none of it may need them;
    the autoencoder epoch reads MNIST where the shared data has it, else the built-in shapes."""
    from conftest import SHARED_DATA

    from benchmarks.gpu_check import APP_PACKAGES, STYLE_IMAGES

    out, mnist = tmp_path / "gpu.json", (SHARED_DATA / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file()
    p = gpu_check(
        "--quick",
        "--device",
        "cpu",
        "--skip",
        "bench",
        "--out",
        out,
        "--data",
        SHARED_DATA if mnist else tmp_path,
        cwd=tmp_path,
    )
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    res = json.loads(p.stdout.strip().splitlines()[-1])  # the last line: every figure, one JSON object
    assert res == json.loads(out.read_text()) and res["status"] == "ok" and res["failed"] == []
    assert res["environment"]["torch"] and res["core_only"]["final"] == "done" and res["core_only"]["device"] == "cpu"
    assert set(res["environment"]["blocked"]) == set(APP_PACKAGES) >= {"streamlit", "plotly", "pandas", "skimage"}
    shapes = res["default_shapes"]  # RunConfig() on the built-in shapes, shrunk
    assert shapes["wall_s"] > 0 and shapes["train_seconds"] > 0 and 0 <= shapes["test_acc"] <= 1
    assert shapes["train_images"] == 256 and shapes["steps"] == 4 and shapes["device"] == "cpu"
    st = res["style_transfer"]  # random VGG19 weights in a temporary hub cache, generated images
    assert st["final"] == "done" and st["steps_done"] == st["steps_asked"] == 4 and st["size"] == [64, 64]
    assert st["seconds"] > 0 and st["seconds_per_step"] > 0 and st["weights_write_s"] > 0
    assert st["images"] == list(STYLE_IMAGES) and st["device"] == "cpu"
    ae = res["autoencoder_epoch"]
    assert ae["dataset"] == ("mnist" if mnist else "shapes") and ae["train_images"] == 256 and ae["steps"] == 4
    assert ae["train_seconds"] > 0 and ae["images_per_second"] > 0 and 0 < ae["test_loss"] < 1
    assert [r["jobs"] for r in res["jobs_on_one_gpu"]] == [1, 2]
    assert all(r["finals"] == ["done"] * r["jobs"] for r in res["jobs_on_one_gpu"])
    assert res["featvis"]["channels"] >= 8 and res["featvis"]["median_gain"] > 1
    assert "bench" not in res and "RUN " not in p.stdout  # estimates: full runs only


def test_the_gpu_check_ends_with_a_json_line_at_its_time_limit(tmp_path):
    """SIGTERM at the limit: gpu_check.py stops the section that runs and prints the figures so far."""
    out = tmp_path / "gpu.json"
    p = gpu_check(
        "--quick",
        "--device",
        "cpu",
        "--skip",
        "bench",
        "--out",
        out,
        cwd=tmp_path,
        env={"GPU_CHECK_SECONDS": "6"},
        timeout=120,
    )
    assert p.returncode == 124, p.stdout[-2000:] + p.stderr[-2000:]
    res = json.loads(p.stdout.strip().splitlines()[-1])
    order = [
        "start",
        "environment",
        "core_only",
        "bench",
        "default_shapes",
        "style_transfer",
        "autoencoder_epoch",
        "jobs_on_one_gpu",
        "featvis",
    ]  # the quick check takes about a minute: 6 s ends it somewhere in there
    assert res["status"] == "timed_out" and res["timed_out"] in order, p.stdout[-2000:]
    assert not set(order[order.index(res["timed_out"]) :]) & set(res)  # the stopped section and the later ones
    assert json.loads(out.read_text())["status"] == "timed_out"


def test_the_gpu_check_reports_a_hard_kill_and_bad_arguments_as_json(tmp_path):
    """A check that ignores SIGTERM is killed 5 s later, and one that cannot start still ends with a JSON
    line: the figures it wrote during this run, and why it ended."""
    stub = tmp_path / "python"  # gpu_check.py as a stubborn process: writes one figure, then hangs
    stub.write_text(f"""#!/bin/bash
if [ "$1" = "-u" ]; then trap '' TERM; echo '{{"environment": {{"torch": "x"}}}}' > {tmp_path / "gpu.json"}; sleep 60
else exec {sys.executable} "$@"; fi
""")
    stub.chmod(0o755)
    p = gpu_check(
        "--out", tmp_path / "gpu.json", cwd=tmp_path, env={"PYTHON": str(stub), "GPU_CHECK_SECONDS": "1"}, timeout=60
    )
    res = json.loads(p.stdout.strip().splitlines()[-1])
    assert p.returncode == 137 and res["status"] == "killed" and res["environment"] == {"torch": "x"}
    assert "time limit (1 s)" in res["message"]
    p = gpu_check("--no-such-flag", "--out", tmp_path / "gpu.json", cwd=tmp_path, timeout=60)
    res = json.loads(p.stdout.strip().splitlines()[-1])
    assert p.returncode == 2 and res["status"] == "error" and "environment" not in res  # not the older file
