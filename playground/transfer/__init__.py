"""Transfer learning (the Transfer learning page): the surgery on a pretrained backbone, its
source task, the cost of training it. The model itself is ``playground.models.transfer``, trained
by the engine like any other; figures are in ``playground.transfer.plots`` (plotly)."""

from .imagenet import imagenet_top5, load_photo
from .surgery import FOUR_CASES, freeze_options, surgery_table
from .timing import epoch_estimate, time_backbone

__all__ = ["FOUR_CASES", "epoch_estimate", "freeze_options", "imagenet_top5", "load_photo", "surgery_table",
           "time_backbone"]
