"""A web-like process for the outbox's process tests: transactions that enqueue jobs.

``python -m tests.outbox_web TRANSACTIONS JOBS [options]`` (settings: ``tests.outbox_settings``)
runs TRANSACTIONS transactions of JOBS ``record`` jobs each and prints, flushed:
``enqueued <n> <id> ...`` as the last thing inside transaction n, ``committed <n>`` after it.

``--stop-at N --stop-where before-push|after-push`` stops this process (SIGSTOP) in the N-th
transaction's commit hook: after the database committed, before its jobs are pushed, or after
they are pushed and before their rows are deleted. The test then SIGKILLs it.
``--delay-push S`` waits S seconds between each commit and its push (so a relay meets the rows).
``--name`` prefixes the jobs' tags (``<name>-<transaction>-<job>``), one per web process.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.outbox_settings")

import django

django.setup()

from django.db import transaction  # noqa: E402

from django_taskq import get_queue  # noqa: E402
from django_taskq.outbox import commit  # noqa: E402
from tests.testapp.worker_jobs import record  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("transactions", type=int)
    parser.add_argument("jobs", type=int)
    parser.add_argument("--pause", type=float, default=0.0)
    parser.add_argument("--stop-at", type=int, default=0)
    parser.add_argument("--stop-where", choices=["before-push", "after-push"], default="before-push")
    parser.add_argument("--delay-push", type=float, default=0.0)
    parser.add_argument("--name", default="w", help="Prefix of the jobs' tags (one per web process).")
    args = parser.parse_args()
    current = {"n": 0}

    def stop_here(where: str) -> None:
        if current["n"] == args.stop_at and args.stop_where == where:
            os.kill(os.getpid(), signal.SIGSTOP)

    deliver, push = commit.deliver, commit.push

    def delivering(pendings: Any) -> Any:
        time.sleep(args.delay_push)
        stop_here("before-push")
        return deliver(pendings)

    def pushing(batch: Any, **options: Any) -> Any:
        result = push(batch, **options)
        stop_here("after-push")
        return result

    commit.deliver, commit.push = delivering, pushing  # type: ignore[assignment]
    queue = get_queue()
    for n in range(1, args.transactions + 1):
        current["n"] = n
        with transaction.atomic():
            ids = [queue.enqueue(record, f"{args.name}-{n}-{i}").id for i in range(args.jobs)]
            sys.stdout.write(f"enqueued {n} {' '.join(ids)}\n")
            sys.stdout.flush()
        sys.stdout.write(f"committed {n}\n")
        sys.stdout.flush()
        time.sleep(args.pause)


if __name__ == "__main__":
    main()
