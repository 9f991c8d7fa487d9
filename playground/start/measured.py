"""Seconds from the click to each lesson's point, as ``playground lessons --data-root ../shared/data --json``
measured them (full form, one lesson at a time); the Start page shows these, never a guess.

Measured 2026-12-06 on the 2-core development VM while four other engineers' tests and servers ran on it
(load average 13-20, where a quiet machine is below 1), with two job slots of one thread each
(PLAYGROUND_MAX_JOBS=2: under that load two-thread OpenMP ran a small CNN at 77 img/s against 400 img/s
with one thread). On a quiet 2-core CPU they take several times less; docs/BENCHMARKS.md, "Lessons:
seconds to each point", has every figure. Re-measure with ``playground lessons --json`` after changing a
lesson.
"""

MEASURED: dict[str, float] = {
    "first_cnn": 125.5,
    "convolution": 0.1,
    "mlp_vs_cnn": 154.3,
    "filters": 116.5,
    "initialisation": 550.2,
    "augmentation": 102.7,
    "denoise": 77.6,
    "transfer": 458.7,
    "style": 280.5,
}
MEASURED_ON = "a 2-core CPU shared with other work (load average 13-20)"
