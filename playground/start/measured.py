"""Seconds from the click to each lesson's point, as ``playground lessons --data-root ../shared/data --json``
measured them (full form, one lesson at a time); the Start page shows these, never a guess.

Measured 2026-12-06 on the 2-core development VM while four other engineers' tests and servers ran on it
(load average 13-20, where a quiet machine is below 1), with two job slots of one thread each
(PLAYGROUND_MAX_JOBS=2: under that load two-thread OpenMP ran a small CNN at 77 img/s against 400 img/s
with one thread). On a quiet 2-core CPU they take several times less; docs/BENCHMARKS.md, "Lessons:
seconds to each point", has every figure. Re-measure with ``playground lessons --json`` after changing a
lesson.

Re-measured 2026-12-07 by ``lessons2`` (the transfer lesson redesigned: digits 0-4 -> 5 images of each of
5-9), with the same settings (PLAYGROUND_MAX_JOBS=2, OMP_NUM_THREADS=1) at load average 8-12, every lesson (nine of
nine shown); these are the figures below.
"""

MEASURED: dict[str, float] = {
    "first_cnn": 92.3,
    "convolution": 0.1,
    "mlp_vs_cnn": 95.7,
    "filters": 46.1,
    "initialisation": 63.2,
    "augmentation": 71.0,
    "denoise": 39.2,
    "transfer": 117.8,
    "style": 60.0,
}
MEASURED_ON = "a 2-core CPU shared with other work (load average 8-12)"
