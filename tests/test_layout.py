"""The house rules, held at zero: no import cycle, no file over 400 lines or function over 80, the core
without Streamlit and the pages without torch, no import back up the layering (infrastructure -> a
capability), every environment variable read through settings(), and a page, its package and its test
file sharing a name. ``python scripts/check_layout.py`` prints the same."""

from __future__ import annotations

import subprocess
import sys

import pytest

from scripts import check_layout as layout


def test_the_checker_finds_a_cycle_when_there_is_one():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert layout.cycles(graph) == [["a", "b", "c"]]
    assert layout.cycles({"a": {"b"}, "b": set()}) == []


def test_the_import_graph_sees_imports_inside_functions_and_type_checking():
    graph = layout.import_graph()
    # plan imports the model registry at module level, the autoencoder task under TYPE_CHECKING
    assert "playground.models" in graph["playground.train.plan"]
    assert "playground.train.prepared" in graph["playground.train.reconstruct"]
    assert len(graph) > 50  # every module of the package was read


def test_no_import_cycle():
    assert layout.cycles(layout.import_graph()) == []


def test_no_file_over_400_lines_and_no_function_over_80():
    assert layout.long_files() == []
    assert layout.long_functions() == []


def test_import_boundaries():
    assert layout.boundary_violations() == []


def test_the_checker_finds_an_import_back_up_the_layering():
    infra, capabilities = layout.layers()
    assert {"jobs", "data", "models", "runs", "registry"} <= infra and not infra & {"cli", "plugins"}
    assert {"train", "inside", "autoencode", "transfer", "style", "export", "conv", "teacher", "start"} <= capabilities
    graph = {
        "playground.jobs.manager": {"playground.train.engine", "playground.runs"},
        "playground.models.transfer": {"playground.train"},
        "playground.train.job": {"playground.jobs.kinds"},
        "playground.runs": {"playground.errors"},
        "playground.plugins": {"playground.style"},
    }
    assert layout.upward_imports(graph) == [
        "playground.jobs.manager -> playground.train.engine",
        "playground.models.transfer -> playground.train",
    ]


def test_no_import_runs_back_up_the_layering():
    """data/, models/, jobs/ and the flat modules never import a capability: each capability registers
    itself (its job kind, tasks, probes) and ``playground.plugins`` imports them all."""
    assert layout.upward_imports() == []


def test_environment_is_read_only_through_settings():
    assert layout.environment_reads() == []


def test_pages_packages_and_tests_share_names():
    assert layout.page_names() == []


@pytest.mark.parametrize(
    "first",
    [
        "playground.autoencode",
        "playground.train",
        "playground.models",
        "playground.transfer",
        "playground.inside",
        "playground.style",
        "playground.export",
        "playground.cli",
        "playground.jobs.manager",
        "playground.plugins",
    ],
)
def test_each_package_imports_first_in_a_fresh_interpreter(first):
    """Import order must not matter: each package, imported before anything else, brings up the engine
    with every task and probe registered."""
    code = (
        f"import {first}\n"
        "from playground.train import PROBES, TASKS\n"
        "assert {'classify', 'reconstruct'} <= set(TASKS.names()), TASKS.names()\n"
        "assert {'snapshots', 'layer_stats', 'live_recon'} <= set(PROBES.names()), PROBES.names()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
