"""A data folder typed into a page never makes the server create folders (issue 28): the monkey test's "-1",
"9" * 60 and markdown typed into the data folder box left ``-1/MNIST/raw`` trees in the server's working
directory, made by torchvision's download. A folder that does not exist is refused before anything is created,
with a message that says what to type instead; the default data folder (the server's own) may still be made."""

from __future__ import annotations

import os

import pytest

from playground.data import load_dataset
from playground.errors import DatasetUnavailable


@pytest.mark.parametrize("typed", ["-1", "9" * 60, "[x](http://example.com) **b** $x$", "nested/new/folder"])
@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
def test_a_typed_folder_that_does_not_exist_is_refused_and_nothing_is_created(tmp_path, monkeypatch, typed, dataset):
    work = tmp_path / "server-cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("PLAYGROUND_DATA", str(tmp_path / "data"))
    with pytest.raises(DatasetUnavailable, match="does not exist on this machine") as e:
        load_dataset(dataset, root=typed, download=True)
    assert "Leave the data folder empty" in str(e.value)
    assert os.listdir(work) == [] and not (tmp_path / "data").exists()


def test_an_existing_empty_folder_is_still_a_place_to_download_into(tmp_path, monkeypatch):
    """The rule is about creating folders: an existing one is tried as before (offline: the download fails
    with its own message, not the missing-folder one)."""
    monkeypatch.setenv("PLAYGROUND_DATA", str(tmp_path / "data"))
    (tmp_path / "mine").mkdir()
    with pytest.raises(DatasetUnavailable) as e:
        load_dataset("mnist", root=tmp_path / "mine", download=False)
    assert "does not exist on this machine" not in str(e.value) and "downloading is off" in str(e.value)
