"""Everything django-taskq relies on that RQ does not document, in one place.

Private attributes, Redis key layouts, storage encodings and worker hooks are each reached
through a small named function in a module of this package; nothing else in django-taskq
touches them. ``tests/test_rq_compat_*.py`` prove every function against the installed RQ,
so an RQ release that changes one of them fails those tests first, naming the RQ symbol.

Modules:

``encoding``
    How RQ writes values into its hashes (text, timestamps).
``hooks``
    The enqueue methods monitoring tools wrap (sentry-sdk, OpenTelemetry), and how our
    writes reach their wrappers.
``jobs``
    Job hashes, the one-round-trip enqueue, deletion, dependencies and statuses.
``job_state``
    A job's hash kept outside Redis (the outbox table) and made a Job again.
``storage``
    Key layouts and decoders for workers, results, suspension and scheduler locks.
``worker``
    The worker hooks our worker classes override or call.
"""
