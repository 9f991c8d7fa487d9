"""Data sets (uint8 tensors, computed statistics) and batched augmentations."""

from . import folder as _folder  # noqa: F401  (registers "image_folder")
from . import shapes as _shapes  # noqa: F401  (registers "shapes")
from . import subset as _subset  # noqa: F401  (registers "subset": some classes of another data set)
from .datasets import (
    DATASETS,
    Dataset,
    channel_stats,
    clear_cache,
    default_data_root,
    list_datasets,
    load_dataset,
    register_dataset,
)

__all__ = [
    "DATASETS",
    "Dataset",
    "channel_stats",
    "clear_cache",
    "default_data_root",
    "list_datasets",
    "load_dataset",
    "register_dataset",
]
