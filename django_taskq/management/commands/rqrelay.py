"""Push what the outbox holds: ``./manage.py rqrelay`` (every ``rqworker`` does it too).

For deployments whose workers do not run near the web tier's database, or to empty the
outbox once (``--once``). Several relays may run at once: each job is pushed once.
"""

from __future__ import annotations

import signal
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_taskq.management.common import (
    add_queue_arguments,
    check_queue_names,
    positive_int,
    positive_number,
)
from django_taskq.management.exit_codes import ExitCode
from django_taskq.management.worker_options import add_logging_level_argument, setup_logging
from django_taskq.management.worker_options import logging_level as level_for
from django_taskq.outbox.relay import BATCH_SIZE, PeriodicRelay, RelayResult, relay_once

DEFAULT_INTERVAL = 1.0


class Command(BaseCommand):
    help = (
        "Push the jobs waiting in the outbox table (Redis was down at their commit, or their "
        "process died before pushing them) to their queues, each exactly once. Runs until "
        "SIGTERM/Ctrl+C, or once with --once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_queue_arguments(parser, default="every queue of RQ_QUEUES")
        parser.add_argument("--once", action="store_true", help="Push what is there now, then exit.")
        parser.add_argument(
            "--interval",
            type=positive_number,
            default=DEFAULT_INTERVAL,
            help=f"Seconds between two looks at the outbox (default {DEFAULT_INTERVAL:g}).",
        )
        parser.add_argument(
            "--batch-size",
            type=positive_int,
            default=BATCH_SIZE,
            help=f"Rows per database transaction (default {BATCH_SIZE}).",
        )
        add_logging_level_argument(parser)

    def handle(self, *args: Any, queues: list[str] | None, once: bool, interval: float, batch_size: int,
               logging_level: str | None, verbosity: int, **options: Any) -> None:  # fmt: skip
        names = check_queue_names(queues) if queues else None
        if once:
            result = relay_once(min_age=0, batch_size=batch_size, queue_names=names)
            self._report(result, quiet=False)
            if result.errors:
                raise CommandError(
                    "Some jobs could not be pushed: " + "; ".join(result.errors),
                    returncode=ExitCode.REDIS
                    if any(e.startswith("Redis") for e in result.errors)
                    else ExitCode.ERROR,
                )
            return
        setup_logging(level_for(logging_level, verbosity))  # the relay logs what fails
        stop = {"requested": False}

        def on_signal(signum: int, frame: FrameType | None) -> None:
            stop["requested"] = True

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            relay = PeriodicRelay(interval, batch_size=batch_size, queue_names=names)
            relay.run_until(lambda: stop["requested"], lambda result: self._report(result, quiet=True))
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stdout.write("Outbox relay stopped.")

    def _report(self, result: RelayResult, *, quiet: bool) -> None:
        if quiet and not (result.pushed or result.found_pushed):
            return  # errors are logged by the relay
        line = f"Pushed {result.pushed} job(s) from the outbox"
        if result.found_pushed:
            line += f"; {result.found_pushed} were in Redis already (their rows deleted)"
        self.stdout.write(self.style.SUCCESS(line + "."))
