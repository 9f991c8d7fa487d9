"""Accuracy targets on the real data in ../shared/data."""

from playground.config import DataConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig
from playground.train import fit


def test_mnist_one_cpu_epoch_reaches_98_5(mnist_run):
    events = mnist_run[2]
    done = events[-1]
    assert done["kind"] == "done", done
    assert [e["epoch"] for e in events if e["kind"] == "epoch"] == [0]
    assert done["test_acc"] >= 0.985, done


def test_image_folder_cifar_trains_above_chance(cifar_jpg):
    cfg = RunConfig(
        data=DataConfig(dataset="image_folder", data_root=str(cifar_jpg), augment=("hflip",)),
        model=ModelConfig(name="cnn"),
        optim=OptimConfig(name="adam", lr=2e-3, schedule="onecycle"),
        train=TrainConfig(epochs=2, batch_size=128, device="cpu", checkpoint=False),
    )
    events = list(fit(cfg))
    start, done = events[0], events[-1]
    assert start["dataset"]["classes"][:2] == ["airplane", "automobile"] and len(start["dataset"]["classes"]) == 10
    assert done["kind"] == "done" and done["test_acc"] > 0.25, done  # chance is 0.10
