"""Training: ``fit(config)`` and its parts, and the job system that runs it for the app.

Importing this package registers every task and probe: ``classify`` (``tasks``), the
``snapshots``/``layer_stats``/``unit_spread`` probes (``snapshots``) and ``reconstruct`` and
``live_recon`` (``reconstruct``). The training job kind is ``job`` (registered by ``playground.plugins``).
"""

from . import reconstruct as _reconstruct  # noqa: F401  (registers reconstruct, live_recon)
from . import snapshots as _snapshots  # noqa: F401  (registers snapshots, layer_stats, unit_spread)
from .engine import Controls, fit, resume
from .plan import check_names, prepare
from .prepared import Prepared
from .probes import PROBES
from .tasks import TASKS, evaluate

__all__ = ["Controls", "PROBES", "Prepared", "TASKS", "check_names", "evaluate", "fit", "prepare", "resume"]
