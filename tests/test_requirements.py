"""requirements.txt (for hosts that install a Streamlit app from one) pins exactly pyproject's dependencies."""

import tomllib

from conftest import ROOT


def _lines(text: str) -> list[str]:
    return [ln.split("#")[0].strip() for ln in text.splitlines() if ln.split("#")[0].strip()]


def test_requirements_equal_pyproject_pins():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    reqs = _lines((ROOT / "requirements.txt").read_text())
    assert all("==" in d for d in deps), "every dependency is pinned"
    assert sorted(reqs) == sorted(deps)
