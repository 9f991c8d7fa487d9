"""The job system: one queue, one set of slots, one gate and one run store for every kind of long work.

``manager`` (the process's ``JobManager``), ``actions`` (who may control a job; stop, pause, unpause),
``job`` (a queued or running job), ``placement`` (which GPU a job starts on), ``kinds`` (the registry of
job kinds: each capability registers its own), ``workers`` (a job in a process of its own), ``remote``
(a job on a Ray cluster), ``controls`` (stop, pause, step, settings changes, as the worker sees them),
``buffer`` (a training run's events in memory) and ``preload`` (what the fork server loads before the
workers are forked). Nothing here imports a capability package: a kind comes to the job system
registered by its own package (``playground.plugins`` imports them all).
"""
