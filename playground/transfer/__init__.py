"""Transfer learning (the Transfer learning page): the surgery on a backbone, its source task (a job of
the job manager: ``source_task``, the "top5" kind), the source models among the playground's own runs, the
cost of training it. The model itself is ``playground.models.transfer``, trained by the engine like any
other; figures are in ``playground.transfer.plots`` (plotly)."""

from .imagenet import imagenet_top5, load_photo
from .source_task import SourceTask
from .sources import input_notes, source_params, source_runs
from .surgery import FOUR_CASES, describe_transfer, freeze_options, keep_freeze, surgery_table
from .timing import estimate_epoch

__all__ = [
    "FOUR_CASES",
    "SourceTask",
    "describe_transfer",
    "estimate_epoch",
    "freeze_options",
    "imagenet_top5",
    "input_notes",
    "keep_freeze",
    "load_photo",
    "source_params",
    "source_runs",
    "surgery_table",
]
