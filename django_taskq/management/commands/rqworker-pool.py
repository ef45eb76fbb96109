"""Run several workers at once: ``./manage.py rqworker-pool --num-workers 4 high default low``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_taskq.management.common import positive_int
from django_taskq.management.exit_codes import ExitCode
from django_taskq.management.worker_options import (
    PidFile,
    add_worker_arguments,
    build_worker,
    check_cron,
    cron_starter,
    setup_logging,
)
from django_taskq.management.worker_options import logging_level as logging_level_for
from django_taskq.worker import WorkerStartupError
from django_taskq.worker.pool import ForkedMember, WorkerPool


class Command(BaseCommand):
    help = (
        "Start --num-workers worker processes for the given queues and replace any that dies. "
        "SIGTERM or Ctrl+C once: every worker finishes its current job; twice: jobs are stopped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--num-workers",
            "-n",
            type=positive_int,
            default=2,
            help="Number of worker processes (default 2).",
        )
        add_worker_arguments(parser, pool=True)

    def handle(self, *args: Any, num_workers: int, queues: list[str], pid: str | None,
               logging_level: str | None, verbosity: int, **options: Any) -> None:  # fmt: skip
        level = logging_level_for(logging_level, verbosity)
        options["queues"] = queues
        build_worker(options)  # validates every flag and reaches Redis once, before any member starts
        if options.get("with_cron"):
            check_cron()
        setup_logging(level)

        def run_member() -> int:
            # In a forked member: the same as ``rqworker`` with these flags.
            worker = build_worker(options)
            if options.get("with_cron"):
                worker.startup_hooks.append(cron_starter(worker))  # type: ignore[attr-defined]
            try:
                worker.work(
                    burst=options["burst"],
                    logging_level=level,
                    max_jobs=options.get("max_jobs"),
                    max_idle_time=options.get("max_idle_time"),
                    with_scheduler=options["with_scheduler"],
                    dequeue_strategy=options["dequeue_strategy"],
                )
            except CommandError as exc:
                self.stderr.write(str(exc))
                return exc.returncode
            except WorkerStartupError as exc:
                self.stderr.write(f"The worker could not start: {exc}")
                return ExitCode.ERROR
            return ExitCode.OK

        pool = WorkerPool(
            lambda: ForkedMember(run_member), num_workers, recycle=bool(options.get("max_jobs"))
        )
        with PidFile(pid):
            code = pool.run()
        if code:
            raise CommandError(f"A pool member could not start (exit code {code}).", returncode=code)
