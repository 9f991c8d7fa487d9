"""The widget monkey: every page, in three states (fresh; with a finished run; with a paused run), every widget
set to its ends and to a few seeded random values (every option of a select up to a few, the ends of a slider
or number box, empty and odd text), the page rerun each time: no exception may reach the page.

Seeded and bounded: ``PLAYGROUND_MONKEY_SEED`` (default 0) picks the random values and the order,
``PLAYGROUND_MONKEY_TRIES`` (default 40) bounds the reruns per page and state. A failure lists, for each
exception, the page, the state, the widget's key and the value, so it replays with the same seed.

Not driven (AppTest cannot): buttons (they start jobs; the journeys press them), file uploads, the camera,
the canvas and data editors (tests/test_browser_journeys.py drives those in Chromium). Data sets that are
not on this machine (cifar10, fashion_mnist: a failed download takes seconds each) are left out of the
selects: tests/test_app.py covers their message. A data set's size sliders (shapes' images, their side) go
to their low end and near it, not to the top: drawing 20,000 shapes takes a minute on a busy 2-core machine.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest
from streamlit.proto.WidgetStates_pb2 import WidgetState
from streamlit.testing.v1 import AppTest

from playground.jobs.manager import reset_manager

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
PAGES = ("start", "data", "conv", "train", "inside", "transfer", "autoencode", "style", "teacher")
STATES = ("fresh", "finished", "paused")
OWNER = "monkey-owner-token-000001"
KEY = "monkey-teacher-key-0123456789"
SEED = int(os.environ.get("PLAYGROUND_MONKEY_SEED", "0"))
TRIES = int(os.environ.get("PLAYGROUND_MONKEY_TRIES", "12"))
VERBOSE = os.environ.get("PLAYGROUND_MONKEY_VERBOSE") == "1"  # each widget and value as it is set
SKIP_OPTIONS = {"cifar10", "fashion_mnist"}  # not on this machine: each choice waits for a failed download
# Options the monkey leaves out for their cost. Empty since the Transfer page's estimate and surgery table build
# the network on the meta device (playground/transfer/timing.py): VGG16 at 224 px, which once took gigabytes in
# the server before Start, is now driven like any other choice.
HEAVY: set[str] = set()
ODD_TEXT = ["", "   ", "../../etc/passwd", "[x](http://example.com) **b** $x$", "é中🙂" * 3, "9" * 60, "-1", "0"]
COSTLY = ("__n_train", "__n_test", "__size", "__image_size")
DRIVEN = (
    "selectbox",
    "radio",
    "multiselect",
    "slider",
    "select_slider",
    "number_input",
    "text_input",
    "text_area",
    "checkbox",
    "toggle",
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, mnist_root):
    """A finished classifier and autoencoder, and a paused classifier and autoencoder, all this owner's."""
    from playground.config import DataConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig

    tmp = tmp_path_factory.mktemp("monkey")
    data = tmp / "data"
    data.mkdir()
    (data / "MNIST").symlink_to(mnist_root / "MNIST")
    env = {
        "PLAYGROUND_RUNS": str(tmp / "runs"),
        "PLAYGROUND_UPLOADS": str(tmp / "up"),
        "PLAYGROUND_DATA": str(data),
        "PLAYGROUND_WORKERS": "thread",
        "PLAYGROUND_MAX_JOBS": "4",
        "PLAYGROUND_TEACHER_KEY": KEY,
        "TORCH_HOME": str(tmp / "torch-home"),
    }
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        reset_manager()
        from app_pages.common import job_manager

        m = job_manager()
        shapes = DataConfig(dataset="shapes", params={"n_train": 256, "n_test": 64})
        cnn = ModelConfig(name="cnn", params={"channels": [8, 16], "fc": [16]})
        ae = dict(model=ModelConfig(name="conv_autoencoder", params={"code": 8}), optim=OptimConfig(name="adam"))

        def submit(cfg, pause):
            job = m.submit(cfg, OWNER)
            if pause:
                deadline = time.time() + 60
                while time.time() < deadline and not job.buffer.snapshot()["steps"]["step"]:
                    time.sleep(0.1)
                m.pause(job.run_id)
            else:
                job.thread.join(120)
                assert job.state == "done", job.buffer.snapshot()["final"]
            return job.run_id

        short = dict(epochs=1.0, batch_size=32, device="cpu", precision="fp32", log_every=2, log_seconds=0)
        ids = {
            ("finished", "train"): submit(RunConfig(data=shapes, model=cnn, train=TrainConfig(**short)), False),
            ("finished", "reconstruct"): submit(
                RunConfig(data=shapes, **ae, train=TrainConfig(task="reconstruct", **short)), False
            ),
            ("paused", "train"): submit(
                RunConfig(data=shapes, model=cnn, train=TrainConfig(**{**short, "epochs": 500.0})), True
            ),
            ("paused", "reconstruct"): submit(
                RunConfig(data=shapes, **ae, train=TrainConfig(task="reconstruct", **{**short, "epochs": 500.0})), True
            ),
        }
        yield ids
        m.shutdown()
        reset_manager()


def open_page(page: str, state: str, ids: dict) -> AppTest:
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=90)
    if state != "fresh":
        at.session_state["owner"] = OWNER
        at.session_state["my_runs"] = [r for (s, _), r in ids.items() if s == state]
        at.query_params["run"] = ids[(state, "reconstruct" if page == "autoencode" else "train")]
    if page == "teacher":
        at.query_params["key"] = KEY
    at.run()
    at.switch_page(f"app_pages/{page}.py").run()
    return at


class _Forced:
    """Sends a chosen option by its index, as the browser does (AppTest's own setters need the option's
    value; a select's options are known here only as the text they show)."""

    def __init__(self, w, index):
        self.w, self.index = w, index  # an index, or a list of them (a multiselect)

    def run(self):
        w, ws = self.w, WidgetState()
        ws.id = w.id
        if w.type == "select_slider":
            ws.string_array_value.data[:] = [w.options[self.index]]
        elif w.type == "multiselect":
            ws.string_array_value.data[:] = [w.options[i] for i in self.index]
        else:  # radio, selectbox
            ws.string_value = w.options[self.index]
        w.root.get_widget_states = _with(w.root.get_widget_states, ws)
        return w.run()


def _with(states_fn, ws):
    def states():
        out = states_fn()
        kept = [s for s in out.widgets if s.id != ws.id]
        del out.widgets[:]
        out.widgets.extend(kept + [ws])
        return out

    return states


def values(w, rng: random.Random) -> list:
    """(description, action) pairs: the ends, every option (a few), odd text; seeded."""
    t = w.type
    if t in ("checkbox", "toggle"):
        return [(v, lambda v=v: w.set_value(v).run()) for v in (True, False)]
    if t in ("text_input", "text_area"):
        texts = ODD_TEXT[:2] + rng.sample(ODD_TEXT[2:], 3)
        return [(repr(v), lambda v=v: w.set_value(v).run()) for v in texts]
    if t == "selectbox":
        idx = [i for i, o in enumerate(w.options) if o not in SKIP_OPTIONS | HEAVY]
        pick = idx if len(idx) <= 6 else sorted({idx[0], idx[-1], *rng.sample(idx, 4)})
        return [(w.options[i], lambda i=i: _Forced(w, i).run()) for i in pick]
    if t in ("radio", "select_slider"):
        n = len(w.options)
        pick = list(range(n)) if n <= 6 else sorted({0, n - 1, *rng.sample(range(n), 3)})
        pick = [i for i in pick if w.options[i] not in HEAVY]
        return [(w.options[i], lambda i=i: _Forced(w, i).run()) for i in pick]
    if t == "multiselect":
        idx = [i for i, o in enumerate(w.options) if o not in SKIP_OPTIONS | HEAVY]
        some = sorted(rng.sample(idx, min(len(idx), rng.randint(1, 3)))) if idx else []
        return [([w.options[i] for i in v], lambda v=v: _Forced(w, v).run()) for v in ([], idx, some)]
    if t == "slider":
        lo, hi = w.proto.min, w.proto.max
        if w.key.endswith(COSTLY):  # a data set's size: its low end and a value near it (see the docstring)
            hi = lo + (hi - lo) / 20
        cast = int if w.proto.data_type == w.proto.INT else float
        if isinstance(w.value, (list, tuple)):
            return [((lo, hi), lambda: w.set_range(cast(lo), cast(hi)).run())]
        mid = cast(lo + (hi - lo) * rng.random())
        return [(v, lambda v=v: w.set_value(cast(v)).run()) for v in (lo, hi, mid)]
    if t == "number_input":
        is_int = w.proto.data_type == w.proto.INT
        lo = w.min if w.min is not None else (-1 if is_int else -1.0)
        hi = w.max if w.max is not None else (10**6 if is_int else 1e6)
        mid = rng.randint(int(lo), int(min(hi, 10**4))) if is_int else lo + (min(hi, 10.0) - lo) * rng.random()
        return [(v, lambda v=v: w.set_value(int(v) if is_int else float(v)).run()) for v in (lo, hi, mid)]
    return []


def widgets(at) -> list:
    out = []
    for t in DRIVEN:
        out += [w for w in at.get(t) if getattr(w, "key", None) and not w.disabled]
    return out


def find(at, key: str, type_: str):
    return next((w for w in at.get(type_) if getattr(w, "key", None) == key), None)


def tabs_of(at) -> list[str]:
    return [t.label for t in at.tabs]


def monkey(page: str, state: str, ids: dict) -> list[str]:
    rng = random.Random(f"{SEED}-{page}-{state}")
    at = open_page(page, state, ids)
    failures: list[str] = []

    def check(what: str) -> None:
        if at.exception:
            failures.append(f"{page} [{state}] {what}: {at.exception[0].value}")

    check("opening")
    plan = tabs_of(at) or [None]
    per_tab = max(6, TRIES // len(plan))  # the budget, shared by the page's tabs
    for tab in plan:
        tries = 0
        if tab is not None:
            at.query_params["tab"] = tab
            at.run()
            check(f"tab {tab!r}")
        keys = [(w.key, w.type) for w in widgets(at)]
        rng.shuffle(keys)
        for key, type_ in keys:
            w = find(at, key, type_)
            if w is None:
                continue
            for desc, act in values(w, rng):
                if tries >= per_tab:
                    break
                w = find(at, key, type_)
                if w is None or w.disabled:
                    break
                tries += 1
                if VERBOSE:
                    print(f"monkey: {page} [{state}] tab {tab!r} widget {key!r} = {desc!r}", flush=True)
                try:
                    act()
                except KeyError:  # AppTest's own bookkeeping (a widget of the last tree it has no state for):
                    at = open_page(page, state, ids)  # not the page's; a fresh session goes on
                    if tab is not None:
                        at.query_params["tab"] = tab
                        at.run()
                    continue
                except Exception as e:  # an error AppTest raises itself (a value the widget refuses)
                    failures.append(f"{page} [{state}] tab {tab!r} widget {key!r} = {desc!r}: {type(e).__name__} {e}")
                    at = open_page(page, state, ids)
                    if tab is not None:
                        at.query_params["tab"] = tab
                        at.run()
                    continue
                if at.exception:
                    check(f"tab {tab!r} widget {key!r} = {desc!r}")
                    at = open_page(page, state, ids)  # a fresh session goes on from here
                    if tab is not None:
                        at.query_params["tab"] = tab
                        at.run()
    return failures


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("page", PAGES)
def test_no_widget_value_shows_a_traceback(request, page, state):
    runs = request.getfixturevalue("runs") if state != "fresh" else {}
    t0 = time.time()
    failures = monkey(page, state, runs)
    print(f"monkey {page} [{state}]: {time.time() - t0:.0f} s")
    assert not failures, f"seed {SEED}:\n" + "\n".join(failures)
