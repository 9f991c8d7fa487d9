import math

import pytest
import torch
import torch.nn as nn

from playground.errors import ConfigError
from playground.train.init import init_weights, list_inits
from playground.train.optim import build_optimizer, build_schedule, list_optimizers, list_schedules

FAN_IN, FAN_OUT = 400, 300


def _linear():
    torch.manual_seed(0)
    return nn.Linear(FAN_IN, FAN_OUT)


@pytest.mark.parametrize(
    "name, params, std",
    [
        ("normal", {"std": 0.02}, 0.02),
        ("uniform", {"a": -0.3, "b": 0.3}, 0.6 / math.sqrt(12)),
        ("xavier_uniform", {}, math.sqrt(2 / (FAN_IN + FAN_OUT))),
        ("xavier_normal", {"gain": 2.0}, 2 * math.sqrt(2 / (FAN_IN + FAN_OUT))),
        ("kaiming_uniform", {}, math.sqrt(2 / FAN_IN)),
        ("kaiming_normal", {}, math.sqrt(2 / FAN_IN)),
        ("kaiming_normal", {"mode": "fan_out"}, math.sqrt(2 / FAN_OUT)),
        ("kaiming_normal", {"nonlinearity": "tanh"}, (5 / 3) / math.sqrt(FAN_IN)),
        ("orthogonal", {}, math.sqrt(1 / FAN_IN)),  # rows orthonormal: each entry ~ 1/sqrt(cols)
    ],
)
def test_empirical_std_matches_theory(name, params, std):
    layer = init_weights(_linear(), name, **params)
    assert layer.weight.std().item() == pytest.approx(std, rel=0.03)
    assert torch.count_nonzero(layer.bias) == 0


def test_orthogonal_rows_are_orthonormal():
    w = init_weights(_linear(), "orthogonal").weight
    torch.testing.assert_close(w @ w.T, torch.eye(FAN_OUT), atol=1e-4, rtol=0)


def test_constant_makes_every_unit_identical_and_zeros_kill_the_signal():
    net = nn.Sequential(nn.Linear(10, 6), nn.Tanh(), nn.Linear(6, 3))
    init_weights(net, "constant", value=0.1)
    h = net[1](net[0](torch.randn(5, 10)))
    assert torch.allclose(h, h[:, :1].expand_as(h))  # all hidden units equal
    init_weights(net, "zeros")
    assert torch.count_nonzero(net(torch.randn(5, 10))) == 0


def test_default_leaves_pytorch_init_untouched():
    a, b = _linear(), _linear()
    init_weights(b, "default")
    assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)


def test_init_registry_and_errors():
    assert {
        "default",
        "zeros",
        "constant",
        "uniform",
        "normal",
        "xavier_uniform",
        "xavier_normal",
        "kaiming_uniform",
        "kaiming_normal",
        "orthogonal",
    } <= set(list_inits())
    with pytest.raises(ConfigError, match="a < b"):
        init_weights(_linear(), "uniform", a=1, b=0)
    with pytest.raises(ConfigError, match="Choose one of"):
        init_weights(_linear(), "glorot")


REFERENCE = {
    "sgd": lambda p: torch.optim.SGD(p, lr=0.1),
    "momentum": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
    "nesterov": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
    "adam": lambda p: torch.optim.Adam(p, lr=0.1),
    "adamw": lambda p: torch.optim.AdamW(p, lr=0.1, weight_decay=0.01),
    "rmsprop": lambda p: torch.optim.RMSprop(p, lr=0.1),
    "adagrad": lambda p: torch.optim.Adagrad(p, lr=0.1),
    "adadelta": lambda p: torch.optim.Adadelta(p, lr=0.1, rho=0.9),
}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_optimizer_registry_matches_torch_optim(name):
    def trajectory(make):
        torch.manual_seed(0)
        model = nn.Linear(5, 2)
        opt = make(model.parameters())
        x, y = torch.randn(16, 5), torch.randn(16, 2)
        for _ in range(5):
            opt.zero_grad()
            ((model(x) - y) ** 2).mean().backward()
            opt.step()
        return model.weight.detach().clone()

    ours = trajectory(lambda p: build_optimizer(name, p, lr=0.1))
    theirs = trajectory(REFERENCE[name])
    torch.testing.assert_close(ours, theirs)
    assert set(REFERENCE) == set(list_optimizers())


def test_weight_decay_is_passed_through():
    opt = build_optimizer("sgd", nn.Linear(2, 2).parameters(), lr=0.1, weight_decay=5e-4)
    assert opt.param_groups[0]["weight_decay"] == 5e-4
    with pytest.raises(ConfigError, match="momentum"):
        build_optimizer("momentum", nn.Linear(2, 2).parameters(), lr=0.1, momentum=-1.0)


def _lrs(name, steps=100, **kw):
    opt = torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1)
    sched = build_schedule(name, opt, total_steps=steps, steps_per_epoch=10, **kw)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_schedules():
    assert set(list_schedules()) == {"constant", "step", "cosine", "onecycle"}
    assert set(_lrs("constant")) == {0.1}
    step = _lrs("step", every_epochs=2, gamma=0.5)
    assert step[0] == 0.1 and step[20] == pytest.approx(0.05) and step[40] == pytest.approx(0.025)
    cos = _lrs("cosine")
    assert cos[0] == 0.1 and cos[50] == pytest.approx(0.05, rel=0.05) and cos[-1] < 0.001
    one = _lrs("onecycle", pct_start=0.3)
    assert max(one) == pytest.approx(0.1, rel=0.01) and one.index(max(one)) in range(27, 32)
    assert one[0] == pytest.approx(0.1 / 25) and one[-1] < 1e-4


def test_every_numeric_parameter_has_a_widget_range():
    from playground.data.augment import AUGMENTATIONS
    from playground.models import MODELS
    from playground.train.init import INITS
    from playground.train.optim import OPTIMIZERS, SCHEDULES

    for reg in (MODELS, AUGMENTATIONS, INITS, OPTIMIZERS, SCHEDULES):
        for name in reg.names():
            num = lambda d: isinstance(d, (int, float)) and not isinstance(d, bool)
            numeric = {p: d for p, d in reg.params(name).items() if num(d)}
            ranges = reg.ranges(name)
            pairs = {
                p: d
                for p, d in reg.params(name).items()  # (low, high) with a range: a range slider
                if p in ranges and isinstance(d, tuple) and len(d) == 2 and all(num(v) for v in d)
            }
            assert set(numeric) | set(pairs) == set(ranges), (reg.kind, name, set(numeric) - set(ranges))
            for p, d in [*numeric.items(), *((p, v) for p, pair in pairs.items() for v in pair)]:
                lo, hi, step = ranges[p]
                assert lo <= d <= hi, (reg.kind, name, p, d, ranges[p])  # the default is on its slider
                assert step == "log" or step > 0


def test_optimisers_with_a_fused_kernel_use_it_on_the_cpu_and_leave_other_devices_to_torch():
    cpu = list(nn.Linear(3, 2).parameters())
    for name in ("sgd", "momentum", "nesterov", "adam", "adamw", "adagrad"):
        assert build_optimizer(name, cpu, lr=0.1).defaults["fused"] is True, name
    # param groups and generators are read once, and every parameter still trains
    groups = [{"params": nn.Linear(3, 2).parameters(), "lr": 0.01}, {"params": nn.Parameter(torch.zeros(2))}]
    opt = build_optimizer("adam", groups, lr=0.1)
    assert opt.defaults["fused"] is True and [len(g["params"]) for g in opt.param_groups] == [2, 1]
    from playground.train.optim import fused

    with torch.device("meta"):
        meta = list(nn.Linear(3, 2).parameters())
    assert fused(meta) is None and fused(iter(cpu)) is None
    assert fused(cpu, ("cuda",)) is None  # Adagrad's fused kernel is the CPU's only
    assert build_optimizer("rmsprop", cpu, lr=0.1).defaults.get("fused") is None
