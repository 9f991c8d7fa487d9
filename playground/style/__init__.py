"""Neural style transfer (Gatys et al. 2016), as in PyTorch's neural-style tutorial: optimise the
pixels of an image so a CNN's features match a content image at a deep layer and the Gram matrices
of a style image at several layers.

- ``settings``  ``StyleSettings`` (everything that decides a result) and the choices it names
- ``images``    built-in images, decoding any image a user gives, resizing, uint8/PNG, colour
- ``features``  feature networks (VGG19/16, or a CNN trained in the playground)
- ``extract``   ``Extractor`` and the losses' kernels (``gram_matrix``, ``tv_loss``)
- ``loop``      the loop: ``stylize(content, style, settings)`` yields events (see there)
- ``job``       ``StyleJob``: a transfer as a job of the job manager (queue, slots, worker process, run store)
- ``plots``     the loss figure; ``cli``: ``python -m playground style``

The CLI and the Style page consume the same iterator of events.
"""

from .extract import gram_matrix
from .features import FEATURE_NETS, FEATURE_RUN_SCAN, FeatureNet, backbone_info, feature_net, feature_runs
from .images import IMAGES, builtin_image, list_images, load_image, to_png, to_uint8
from .job import StyleBuffer, StyleJob
from .loop import run_stylize, stylize
from .settings import MIN_SIDE, STARTS, STYLE_OPTIMIZERS, StyleSettings

__all__ = [
    "StyleSettings",
    "STARTS",
    "STYLE_OPTIMIZERS",
    "MIN_SIDE",
    "IMAGES",
    "list_images",
    "builtin_image",
    "load_image",
    "to_uint8",
    "to_png",
    "FeatureNet",
    "FEATURE_NETS",
    "feature_net",
    "feature_runs",
    "FEATURE_RUN_SCAN",
    "backbone_info",
    "gram_matrix",
    "stylize",
    "run_stylize",
    "StyleJob",
    "StyleBuffer",
]
