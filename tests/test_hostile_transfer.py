"""The Transfer page's source task against one real ``streamlit run`` server, driven as browsers drive it
(Streamlit's websocket protocol, ``benchmarks/st_protocol.py``), the server's memory read from /proc: four
tabs ask for vgg16's ImageNet top-5 of a photo at once (vgg16 is the largest backbone: 528 MB of weights,
random-init ones saved where torch hub looks for the pretrained file). The backbone is built in the job's
worker processes, one after another through the job manager's queue, never in the server: the server grows
by less than 500 MB, stays up, and every tab shows its answer (issue 28)."""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path

import pytest
import torch
from PIL import Image
from torchvision.models import get_model

from benchmarks.load_test import Server
from benchmarks.st_protocol import Session
from playground.models.backbones import BACKBONES
from playground.weights import resolve_weights, weights_file

pytestmark = [pytest.mark.server, pytest.mark.slow]

GROWTH_MB = 500  # what four top-5 requests at once may add to the server (issue 28)
BACKBONE = "vgg16"


def _mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("torch")
    with pytest.MonkeyPatch.context() as mp:  # where torch hub looks, in the server as here
        mp.setenv("TORCH_HOME", str(home))
        path = weights_file(resolve_weights(BACKBONE))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    torch.save(get_model(BACKBONE, weights=None).state_dict(), path)  # random init, under the pretrained name
    env = {"PLAYGROUND_CLASSROOM": "1", "TORCH_HOME": str(home)}
    with Server(tmp_path_factory.mktemp("hostile-transfer"), env=env) as s:
        yield s


def _photo(seed: int) -> bytes:
    """A camera-sized JPEG (1280 x 960), a different one per tab (each asks its own question)."""
    g = torch.Generator().manual_seed(seed)
    small = (torch.rand(3, 30, 40, generator=g) * 255).to(torch.uint8).permute(1, 2, 0).numpy()
    buf = io.BytesIO()
    Image.fromarray(small).resize((1280, 960)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _says(tab: Session, *words: str) -> bool:
    return any(all(w in t for w in words) for t in tab.texts)


async def _four_at_once(server: Server) -> dict[str, float]:
    tabs = [Session(server.url) for _ in range(4)]
    for t in tabs:
        await t.__aenter__()
    try:
        await asyncio.gather(*(t.open("transfer", timeout=300) for t in tabs))
        label = f"{BACKBONE} — {BACKBONES[BACKBONE].note}"  # the selectbox sends the option as it is shown
        for t in tabs:
            await t.set({t.widget("backbone", "selectbox"): ("string_value", label)}, timeout=300)
            assert _says(t, "found in the cache"), t.texts
        pid = server.proc.pid
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # the peak (VmHWM) from here on
        start, t0 = _mb(pid, "VmRSS"), time.perf_counter()
        await asyncio.gather(
            *(
                t.upload(t.widget("a photo (any size or mode)", "file_uploader"), f"p{i}.jpg", _photo(i), "image/jpeg")
                for i, t in enumerate(tabs)
            )
        )
        deadline = time.perf_counter() + 600
        while time.perf_counter() < deadline and not all(_says(t, "top guess") for t in tabs):
            await asyncio.sleep(2.0)
            await asyncio.gather(*(t.set({}, timeout=300) for t in tabs if not _says(t, "top guess")))
        for t in tabs:
            assert _says(t, f"{BACKBONE}'s top guess"), t.texts
            assert not t.exceptions, t.exceptions
        return {"grew_mb": _mb(pid, "VmHWM") - start, "seconds": time.perf_counter() - t0}
    finally:
        for t in tabs:
            await t.__aexit__(None, None, None)


def test_four_vgg16_top5_requests_at_once_run_in_workers_and_the_server_stays_small(server):
    got = asyncio.run(_four_at_once(server))
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(
        f"four {BACKBONE} top-5 requests at once: the server grew {got['grew_mb']:.0f} MB (peak), all four "
        f"answered in {got['seconds']:.0f} s (load average {' '.join(load)})"
    )
    assert got["grew_mb"] < GROWTH_MB
    assert server.proc.poll() is None
