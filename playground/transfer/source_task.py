"""The source task as a job of the job manager (``playground.jobs.kinds``): a photo's ImageNet top-5 from the
pretrained backbone. Loading a backbone takes its weights into memory (vgg16: 528 MB, about twice that while
it loads), so it runs in a worker process through the same gate, quota, queue and slots as training, never in
the web server's own process.

    top5/<run_id>/config.json    the request: the backbone, the photo's name and size
                  photo          the photo's bytes as uploaded (deleted once the job has read them)
                  metrics.jsonl  start, progress, the final event: the top five and a thumbnail of the photo
                                 (done) or the message that says what to do (error)
"""

from __future__ import annotations

import base64
import io
import json
import shutil
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator

from PIL import Image

from ..errors import ConfigError, PlaygroundError
from ..files import atomic_write_bytes
from ..jobs.kinds import JOB_KINDS, JobKind, ResultBuffer
from ..models.backbones import backbone_spec
from ..weights import resolve_weights, weights_cached, weights_file
from .imagenet import imagenet_top5, load_photo

__all__ = ["SourceTask", "SourceTaskKind", "MAX_PHOTO_MB", "PHOTO"]

MAX_PHOTO_MB = 25  # a camera's JPEG is a few MB; the pixel cap of the one decoder applies in the worker
PHOTO = "photo"  # the photo's file in the job's folder
THUMBNAIL_PX = 480  # the photo as the page shows it (240 px wide, sharp on a 2x screen)


@dataclass(frozen=True)
class SourceTask:
    """What the backbone ``backbone`` (a torchvision one: ``BACKBONES``) sees in ``photo`` (the file's bytes,
    any format the one decoder reads; ``name``: the file's name, for the messages)."""

    backbone: str
    photo: bytes = field(default=b"", repr=False, compare=False)
    name: str = ""

    def to_json(self, **kw: Any) -> str:
        """The request without the photo itself (its folder holds it: ``PHOTO``)."""
        return json.dumps({"backbone": self.backbone, "name": self.name, "photo_bytes": len(self.photo)}, **kw)

    @classmethod
    def from_json(cls, text: str) -> "SourceTask":
        d = json.loads(text)
        return cls(str(d["backbone"]), b"", str(d.get("name", "")))


def thumbnail(image: Image.Image) -> str:
    """The photo as the page shows it: a JPEG of at most ``THUMBNAIL_PX`` a side, base64 (the final event
    carries it: the web server never decodes the upload itself, which may be a pixel bomb)."""
    small = image.copy()
    small.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    buf = io.BytesIO()
    small.save(buf, "JPEG", quality=85)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def Top5Buffer() -> ResultBuffer:
    """What the page draws: the job's progress (fraction, text), then the top five (``top``)."""
    return ResultBuffer("top", ("fraction", "text"), (0.0, "waiting for a slot..."))


class SourceTaskKind(JobKind):
    """The Transfer page's source task: the pretrained backbone's own ImageNet top-5 of a photo."""

    name = "top5"
    spec_type = SourceTask
    folder = "top5"
    page = "transfer"
    listed = False  # an answer beside the photo, not a run: the sidebar's "Your runs" leaves it out

    def page_query(self, run_id: str) -> dict[str, str]:
        return {}  # the page shows it beside the photo, in the session that sent it

    def admit(self, spec: SourceTask, owner: str, runs_root=None) -> None:
        """Refused before anything is stored: an unknown backbone, no photo or one over ``MAX_PHOTO_MB``,
        weights that are not in the torch hub cache (the message names the file and the folder)."""
        arch = backbone_spec(spec.backbone).arch
        if not spec.photo:
            raise ConfigError("Upload a photo (JPEG, PNG, WebP, BMP or TIFF) to see the backbone's top five.")
        if len(spec.photo) > MAX_PHOTO_MB * 2**20:
            raise ConfigError(
                f"The photo {spec.name!r} is {len(spec.photo) / 2**20:.0f} MB; upload one of at most "
                f"{MAX_PHOTO_MB} MB (a camera's JPEG is a few MB)."
            )
        w = resolve_weights(arch)
        if not weights_cached(w):
            raise ConfigError(
                f"The ImageNet weights of {spec.backbone} are not in the torch hub cache: put "
                f"{weights_file(w).name} into {weights_file(w).parent}, or pick another backbone."
            )

    def create(self, store, spec: SourceTask):
        run = store.create(spec)
        try:
            atomic_write_bytes(run.dir / PHOTO, lambda f: f.write(spec.photo))
        except BaseException:
            shutil.rmtree(run.dir, ignore_errors=True)  # no folder without its photo (a full disk, ...)
            raise
        return run

    def spec(self, run) -> SourceTask:
        photo = run.dir / PHOTO
        return replace(run.config(), photo=photo.read_bytes() if photo.is_file() else b"")

    def events(
        self, run, store, controls, resuming: bool, emit: Callable[[dict[str, Any]], None], device: str | None = None
    ) -> Iterator[dict[str, Any]]:
        spec = self.spec(run)
        start = {"kind": "start", "backbone": spec.backbone}
        run.append(start)
        yield start
        emit({"kind": "progress", "fraction": 0.2, "text": f"loading the {spec.backbone} weights..."})
        try:
            if not spec.photo:
                raise ConfigError("The photo of this request is gone: upload it again.")
            image = load_photo(spec.photo, spec.name or None)  # the one decoder, its pixel cap: before the weights
            top = imagenet_top5(spec.backbone, image)
        except PlaygroundError as e:  # weights gone meanwhile, a file that is no image, a pixel bomb
            final: dict[str, Any] = {"kind": "error", "message": str(e)}
        else:
            final = {"kind": "done", "backbone": spec.backbone, "top": top, "thumbnail": thumbnail(image)}
        (run.dir / PHOTO).unlink(missing_ok=True)  # read: the result is all that is kept
        run.append(final)
        yield final

    def buffer(self) -> ResultBuffer:
        return Top5Buffer()

    def buffer_from_run(self, run) -> ResultBuffer:
        buf = Top5Buffer()
        for e in run.events():
            buf.add(e)
        return buf


JOB_KINDS.register("top5")(SourceTaskKind())
