"""The ``Schedule`` model's companions: its validation, its admin, and import/export to RQ_CRON.

The runners that run the rows live in :mod:`django_taskq.cron` (``database``, ``loader``,
``rows``, ``run_state``, ``claims``).
"""
