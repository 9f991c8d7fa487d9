"""Seconds from the click to each lesson's point, as ``playground lessons`` measured them (full form, one
lesson at a time); the Start page shows these, never a guess. Machine and load: docs/BENCHMARKS.md,
"Lessons: seconds to each point". Re-measure with ``playground lessons --json`` after changing a lesson."""

MEASURED: dict[str, float] = {}
