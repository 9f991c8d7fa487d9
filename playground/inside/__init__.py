"""Inside the network: activations, filters, saliency, Grad-CAM, the initialisation lab, and what
weight sharing buys (parameters, invariance to shifts and rotations).

Everything works on a trained model loaded from the run store (``load_trained``) or built in
memory (``Trained.from_model``), on the CPU, and returns numpy arrays and dicts for
``playground.inside.plots`` and the app; nothing here imports Streamlit.

- ``trained``: the ``Trained`` model wrapper, loading runs, cached feature extractors;
- ``forward``: every layer's output for one image, predictions, top-activating test images, uploads;
- ``attribution``: saliency and Grad-CAM;
- ``filters``: learned kernels after any epoch, laid out as one image;
- ``predictions``: test-split predictions and the confusion-matrix drill-down;
- ``initlab``: per-layer statistics at initialisation and a same-seed race between initialisations;
- ``sharing``: parameter counts with and without weight sharing, accuracy on moved test images;
- ``plots``: the plotly figures; ``bench``: the benchmark (``python -m playground.inside.bench``).
"""

from __future__ import annotations

from .attribution import grad_cam, last_conv, saliency
from .featvis import FeatureVis, conv_layers
from .filters import filter_grid, filters_at
from .forward import activations, hwc, image_from_bytes, layer_nodes, predict, top_activating
from .initlab import LAB_DEFAULTS, init_lab_models, init_race, init_stats, unit_spread
from .predictions import highest_loss, misclassified, test_predictions
from .race import InitRace
from .sharing import invariance, mlp_and_cnn, param_table
from .trained import Trained, inspectable_runs, load_trained

__all__ = [
    "Trained",
    "load_trained",
    "inspectable_runs",
    "layer_nodes",
    "activations",
    "predict",
    "top_activating",
    "hwc",
    "image_from_bytes",
    "saliency",
    "grad_cam",
    "last_conv",
    "filters_at",
    "filter_grid",
    "test_predictions",
    "misclassified",
    "highest_loss",
    "init_lab_models",
    "init_stats",
    "unit_spread",
    "init_race",
    "InitRace",
    "LAB_DEFAULTS",
    "FeatureVis",
    "conv_layers",
    "param_table",
    "invariance",
    "mlp_and_cnn",
]
