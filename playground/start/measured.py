"""Seconds from the click to each lesson's point, as ``playground lessons --data-root ../shared/data --json``
measured them (full form, one lesson at a time); the Start page shows these, never a guess.

Measured 2026-12-06 on the 2-core development VM while four other engineers' tests and servers ran on it
(load average 13-20, where a quiet machine is below 1), with two job slots of one thread each
(PLAYGROUND_MAX_JOBS=2: under that load two-thread OpenMP ran a small CNN at 77 img/s against 400 img/s
with one thread). On a quiet 2-core CPU they take several times less; docs/BENCHMARKS.md, "Lessons:
seconds to each point", has every figure. Re-measure with ``playground lessons --json`` after changing a
lesson.

The transfer lesson (redesigned 2026-12-07: digits 0-4 -> 5 images of each of 5-9) was measured by ``lessons2``
on the same VM at load average 10.6-12.6 at its start and end (12-19 while it ran, beside an identical run
clicked in the app and another harness): one job slot of two threads (the default), 1022 s.
"""

MEASURED: dict[str, float] = {
    "first_cnn": 125.5,
    "convolution": 0.1,
    "mlp_vs_cnn": 154.3,
    "filters": 116.5,
    "initialisation": 550.2,
    "augmentation": 102.7,
    "denoise": 77.6,
    "transfer": 1022.3,
    "style": 280.5,
}
MEASURED_ON = "a 2-core CPU shared with other work (load average 13-20)"
