"""The outbox: jobs stored in the database transaction that enqueues them, pushed after it.

With ``RQ = {"COMMIT_MODE": "outbox"}`` a job enqueued inside ``transaction.atomic()`` is a
row of ``OutboxJob`` in that transaction: a rollback leaves nothing, a commit leaves the row
even if the process dies right after. After the commit the same process pushes it to Redis at
once and deletes the row soon after (``commit.deliver``: the fast path); whatever is left (Redis down,
the process killed) is pushed by the relay (``relay``), in every ``rqworker`` and in
``manage.py rqrelay``. Each stored job reaches its queue once however the two race or crash
(``push``). In the default mode, jobs whose write at the commit fails because Redis is
unreachable are stored the same way instead of being lost (``commit.keep``).

Modules: ``rows`` (the table: which database, store, claim, delete), ``push`` (exactly-once
delivery), ``commit`` (what the committing process does), ``cleanup`` (the rows of pushed jobs,
deleted together), ``relay``, ``status`` (jobs waiting and the oldest one's age).

Import the submodules after Django's apps are loaded: they use the model.
"""
