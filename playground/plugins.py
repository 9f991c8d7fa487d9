"""The composition root: importing this module imports every capability package, so each registers what
it brings (its job kind, tasks, probes, models). The CLI (``playground.cli``) and the app
(``streamlit_app.py``) import it; the infrastructure (``data``, ``models``, ``jobs`` and the flat modules)
never imports a capability, and a worker process imports a job kind's module when it unpickles the kind.
"""

# teacher registers nothing and draws with plotly (the app's): left to the Teacher page, so the core imports
# and trains on a machine without the app's packages (benchmarks/gpu_check.py checks it).
from . import autoencode, conv, export, inside, start, style, train, transfer  # noqa: F401
from .inside import featvis, race  # noqa: F401  (the "featvis" and "initrace" job kinds)
from .style import job as style_job  # noqa: F401  (the "style" job kind)
from .train import job as train_job  # noqa: F401  (the "train" job kind)
from .transfer import source_task  # noqa: F401  (the "top5" job kind)

__all__: list[str] = []
