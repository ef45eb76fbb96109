"""Run RQ's scheduler on its own: ``./manage.py rqscheduler [QUEUE ...] [-i SECONDS]``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from django_taskq.management.common import (
    add_queue_arguments,
    check_queue_names,
    check_reachable,
    positive_number,
)
from django_taskq.management.worker_options import (
    PidFile,
    add_logging_level_argument,
    add_pid_argument,
    logging_level,
    setup_logging,
)
from django_taskq.scheduler import SchedulerRunner
from django_taskq.worker import MAINTENANCE_INTERVAL


class Command(BaseCommand):
    help = (
        "Move jobs scheduled with enqueue_at/enqueue_in to their queues when due, for the given "
        "queues (default: all), and fail or retry the jobs of dead workers. Several schedulers may "
        "run: each queue is scheduled by the one holding its lock. SIGTERM/Ctrl+C: exit 0."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_queue_arguments(parser, default="every queue of RQ_QUEUES")
        parser.add_argument(
            "-i", "--interval", type=positive_number, default=1.0,
            help="Seconds between two looks at the scheduled jobs (default 1).",
        )  # fmt: skip
        parser.add_argument(
            "--maintenance-interval", type=positive_number, default=float(MAINTENANCE_INTERVAL),
            help=f"Seconds between two registry clean-ups (default {MAINTENANCE_INTERVAL}).",
        )  # fmt: skip
        add_pid_argument(parser)
        add_logging_level_argument(parser)

    def handle(self, *args: Any, queues: list[str], interval: float, maintenance_interval: float,
               pid: str | None, logging_level: str | None, verbosity: int,
               **options: Any) -> None:  # fmt: skip
        selected = check_queue_names(queues)
        runner = SchedulerRunner(selected, interval=interval, maintenance_interval=maintenance_interval)
        check_reachable([queue.name for queue in runner.queues])
        setup_logging(_level(logging_level, verbosity))
        names = ", ".join(queue.name for queue in runner.queues)
        self.stdout.write(f"Scheduler for {names} (every {interval:g} s); Ctrl+C to stop.")
        self.stdout.flush()
        with PidFile(pid):
            runner.run()


def _level(level: str | None, verbosity: int) -> str:
    return logging_level(level, verbosity)
