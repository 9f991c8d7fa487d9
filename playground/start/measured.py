"""Seconds from the click to each lesson's point, as ``playground lessons --data-root ../shared/data --json``
measured them (full form, one lesson at a time); the Start page shows these, never a guess.

Measured 2026-12-06 on the 2-core development VM while four other engineers' tests and servers ran on it
(load average 13-20, where a quiet machine is below 1), with two job slots of one thread each
(PLAYGROUND_MAX_JOBS=2: under that load two-thread OpenMP ran a small CNN at 77 img/s against 400 img/s
with one thread). On a quiet 2-core CPU they take several times less; docs/BENCHMARKS.md, "Lessons:
seconds to each point", has every figure. Re-measure with ``playground lessons --json`` after changing a
lesson.

Re-measured 2026-12-07 by ``lessons2`` (the transfer lesson redesigned: digits 0-4 -> 5 images of each of
5-9) at load average 8-12: 0.1-117.8 s. Then, on the same VM quiet (load average 1.0-1.9, nothing else
running) with the default settings (one job slot, two threads), every lesson shown in 0.0-16.4 s (the
offline transfer design, on ``shapes``: 19.0 s): the figures below.
"""

MEASURED: dict[str, float] = {
    "first_cnn": 15.3,
    "convolution": 0.05,  # milliseconds: the harness prints 0.0
    "mlp_vs_cnn": 9.7,
    "filters": 8.0,
    "initialisation": 16.1,
    "augmentation": 16.4,
    "denoise": 5.0,
    "transfer": 14.6,
    "style": 9.9,
}
MEASURED_ON = "a quiet 2-core CPU (load average 1-2)"
