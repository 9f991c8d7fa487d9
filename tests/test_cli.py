import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from playground.cli import build_parser, config_from_args
from playground.config import RunConfig

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, cwd=None, timeout=600):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "playground", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=timeout)


def test_every_config_field_has_a_flag():
    parser = build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    dests = {a.dest for a in train._actions}
    cfg = RunConfig().to_dict()
    for section, values in cfg.items():
        for name in values:
            assert f"{section}__{name}" in dests, f"no flag for {section}.{name}"


def test_flags_build_the_config():
    args = build_parser().parse_args([
        "train", "--dataset", "mnist", "--data-root", "/d", "--augment", "hflip", "rotation:10", "--model", "mlp",
        "--model-param", "hidden=[64]", "--model-param", "activation=gelu", "--init", "kaiming_normal",
        "--optimizer", "nesterov", "--lr", "0.05", "--weight-decay", "5e-4", "--schedule", "onecycle",
        "--label-smoothing", "0.1", "--grad-clip", "1", "--batch-size", "64", "--epochs", "1.5", "--seed", "4",
        "--device", "cpu", "--no-checkpoint", "--target-acc", "0.99"])
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
    out = cli("train", "--data-param", "n_train=300", "--data-param", "n_test=100", "--epochs", "1",
              "--batch-size", "50", "--runs", tmp_path / "runs", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert {"run_id", "test_acc", "train_seconds", "images_per_second", "device"} <= set(result)
    assert result["status"] == "done" and 0 <= result["test_acc"] <= 1 and result["device"] == "cpu"
    assert (tmp_path / "runs" / result["run_id"] / "metrics.jsonl").exists()
    assert "epoch 0" in out.stderr  # progress goes to stderr with --json


@pytest.mark.parametrize("args, words", [
    (["--lr", "-1"], "learning rate"),
    (["--model", "nope"], "Choose one of"),
    (["--batch-size", "0"], "batch size"),
    (["--epochs", "0"], "epochs"),
    (["--model-param", "oops"], "key=value"),
    (["--dataset", "cifar10", "--data-root", "{tmp}", "--no-download"], "cifar-10-python.tar.gz"),
])
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
    for name in ["shapes", "mnist", "fashion_mnist", "cifar10", "image_folder", "mlp", "cnn", "lenet5", "resnet",
                 "hflip", "rotation", "cutout", "kaiming_normal", "orthogonal", "adamw", "adadelta", "onecycle"]:
        assert f"  {name} " in out.stdout


def test_runs_lists_the_store(tmp_path):
    cli("train", "--data-param", "n_train=100", "--data-param", "n_test=50", "--epochs", "1", "--batch-size", "50",
        "--runs", tmp_path / "runs", "--quiet", cwd=tmp_path)
    out = cli("runs", "--runs", tmp_path / "runs")
    assert "done" in out.stdout and "shapes" in out.stdout


def test_bench_prints_figures(mnist_root, tmp_path):
    out = cli("bench", "--data-root", mnist_root, "--steps", "8", "--rounds", "2", "--skip-mnist99", "--json",
              cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout.strip().splitlines()[-1])
    for key in ("textbook_ips", "engine_ips", "compute_bound_ips", "engine_vs_textbook",
                "engine_vs_compute_bound", "mnist_seconds_to_99", "device"):
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


def test_predict_and_export_headless(tmp_path):
    import onnxruntime as ort
    from PIL import Image

    from playground.data import load_dataset

    out = cli("train", "--data-param", "n_train=200", "--data-param", "n_test=50", "--epochs", "2",
              "--batch-size", "20", "--runs", tmp_path / "runs", "--json", cwd=tmp_path)
    run_id = json.loads(out.stdout.strip().splitlines()[-1])["run_id"]
    data = load_dataset("shapes", n_train=200, n_test=50)
    big = Image.fromarray(data.test_x[0].permute(1, 2, 0).numpy()).resize((300, 300)).convert("RGBA")
    path = tmp_path / "shape.webp"
    big.save(path)  # another format, size and mode than the model's input: the one image path copes
    pred = cli("predict", run_id, path, "--top", "3", "--runs", tmp_path / "runs", "--json", cwd=tmp_path)
    assert pred.returncode == 0, pred.stderr
    top = json.loads(pred.stdout)["top"]
    assert len(top) == 3 and all(t["class"] in data.classes for t in top)
    assert top[0]["probability"] >= top[1]["probability"] and sum(t["probability"] for t in top) <= 1.0001
    text = cli("predict", run_id, path, "--runs", tmp_path / "runs", cwd=tmp_path)
    assert "%" in text.stdout.splitlines()[0]
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"<svg xmlns='http://www.w3.org/2000/svg'/>")
    refused = cli("predict", run_id, bad, "--runs", tmp_path / "runs", cwd=tmp_path)
    assert refused.returncode == 2 and "error:" in refused.stderr
    exp = cli("export", run_id, "--onnx", tmp_path / "m.onnx", "--script", tmp_path / "train.py",
              "--runs", tmp_path / "runs", "--json", cwd=tmp_path)
    assert exp.returncode == 0, exp.stderr
    report = json.loads(exp.stdout)
    assert report["onnx"]["max_abs_diff"] < 1e-3 and (tmp_path / "train.py").read_text().startswith(("#", '"""'))
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].name == "images"
    assert cli("export", run_id, "--runs", tmp_path / "runs", cwd=tmp_path).returncode == 2  # nothing asked for


def test_the_prepared_gpu_check_runs_on_a_cpu(tmp_path):
    """benchmarks/gpu_check.py is run only when a GPU machine is lent: a shrunk CPU run keeps it working (the
    bench section is `playground bench`, tested on its own)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "gpu.json"
    p = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "--quick", "--device", "cpu", "--skip", "bench",
                        "--out", str(out)], cwd=root, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["core_only"]["final"] == "done" and res["core_only"]["device"] == "cpu"
    assert [r["jobs"] for r in res["jobs_on_one_gpu"]] == [1, 2]
    assert all(r["finals"] == ["done"] * r["jobs"] for r in res["jobs_on_one_gpu"])
    assert res["featvis"]["channels"] >= 8 and res["featvis"]["median_gain"] > 1
    assert "bench" not in res
