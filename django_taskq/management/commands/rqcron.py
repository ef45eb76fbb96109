"""Run the periodic jobs of RQ_CRON: ``./manage.py rqcron`` (safe to run in several processes).

``./manage.py rqcron cron_config.py`` (django-rq's form) runs the jobs a cron config module
registers with ``rq.cron.register()`` instead (see ``management/cron_config.py``).
"""

from __future__ import annotations

import logging
import signal
from datetime import datetime, timezone
from types import FrameType
from typing import Any

import redis
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from django_taskq.cron import (
    DEFAULT_TICK,
    CronConfigError,
    CronEntry,
    CronEntryStatus,
    CronRunner,
    ScheduleStatus,
    cron_runners,
    cron_status,
    schedule_status,
)
from django_taskq.exceptions import TaskqError
from django_taskq.management.common import check_reachable, positive_number, redis_errors
from django_taskq.management.cron_config import load_config
from django_taskq.management.exit_codes import ExitCode
from django_taskq.management.worker_options import add_logging_level_argument
from django_taskq.management.worker_options import logging_level as logging_level_for


class Command(BaseCommand):
    help = (
        "Enqueue the periodic jobs of RQ_CRON when they are due. Several rqcron processes may run "
        "at once: each slot is enqueued exactly once. Given a cron config module (django-rq's "
        "form), run the jobs it registers with rq.cron.register() instead."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "config",
            nargs="?",
            metavar="CONFIG",
            help="A cron config module, as a file (cron_config.py) or a dotted path (myapp.cron), whose "
            "rq.cron.register() calls declare the jobs (default: the RQ_CRON setting).",
        )
        parser.add_argument(
            "--interval",
            type=positive_number,
            default=DEFAULT_TICK,
            help=f"Seconds between two looks at the schedule (default {DEFAULT_TICK:g}).",
        )
        parser.add_argument(
            "--once", action="store_true", help="Evaluate the schedule once, enqueue what is due, exit."
        )
        parser.add_argument(
            "--list",
            action="store_true",
            dest="list_entries",
            help="Print each entry's schedule, next and last run; exit.",
        )
        parser.add_argument(
            "--name", help="Name of this runner, shown on the dashboard (default: host.pid.random)."
        )
        add_logging_level_argument(parser)

    def handle(self, *args: Any, config: str | None, interval: float, once: bool, list_entries: bool,
               name: str | None, logging_level: str | None, verbosity: int,
               **options: Any) -> None:  # fmt: skip
        try:
            entries = load_config(config) if config is not None else None
        except CronConfigError as exc:
            raise CommandError(str(exc), returncode=ExitCode.ERROR) from exc
        if list_entries:
            self._list(entries)
            return
        self._setup_logging(logging_level_for(logging_level, verbosity))
        try:
            runner = CronRunner(entries, interval=interval, name=name, schedules=True)
        except (CronConfigError, TaskqError) as exc:
            raise CommandError(str(exc), returncode=ExitCode.ERROR) from exc
        if not runner.entries and not runner.refresh(force=True):  # nor a readable Schedule table
            source = "RQ_CRON is empty" if config is None else f"{config} registers no job"
            self.stdout.write(self.style.WARNING(f"{source}: nothing to run."))
            return
        queue_names = sorted({entry.queue for entry in runner.entries})
        if once:
            with redis_errors(queue_names):
                runs = runner.tick()
                runner.leave()
            for run in runs:
                what = f"enqueued job {run.job_id}" if run.job_id else f"skipped ({run.late:.0f} s late)"
                self.stdout.write(f"{run.slot.isoformat()}: {what}")
            self.stdout.write(self.style.SUCCESS(f"{len(runs)} slot(s) claimed by {runner.name}."))
            return
        check_reachable(queue_names)  # fail fast; once running, a lost Redis is retried
        previous = {sig: signal.signal(sig, self._stopper(runner)) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            runner.run()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stdout.write(f"Cron runner {runner.name} stopped.")

    def _stopper(self, runner: CronRunner) -> Any:
        def stop(signum: int, frame: FrameType | None) -> None:
            runner.stop()

        return stop

    def _list(self, entries: list[CronEntry] | None) -> None:
        now = datetime.now(timezone.utc)
        try:
            runners = cron_runners(now=now)
        except (redis.RedisError, OSError, TaskqError):
            runners = []
        self.stdout.write(f"Cron runners alive: {', '.join(runners) or 'none'}")
        try:
            schedules: list[CronEntryStatus] = list(schedule_status(now=now))
        except DatabaseError:  # no Schedule table (migrations not applied): RQ_CRON only
            schedules = []
        for status in [*cron_status(entries, now=now), *schedules]:
            heading = status.name
            if isinstance(status, ScheduleStatus):
                heading += f" (Schedule row {status.pk}{'' if status.enabled else ', disabled'})"
            self.stdout.write(self.style.MIGRATE_HEADING(heading))
            self.stdout.write(f"  func      {status.func} on queue {status.queue}")
            self.stdout.write(f"  schedule  {status.schedule} ({status.timezone})")
            if status.error:
                self.stdout.write(self.style.ERROR(f"  error     {status.error}"))
            if status.next_run:
                self.stdout.write(f"  next run  {status.next_run.isoformat()}")
            for run in status.last_runs[:3]:
                self.stdout.write(
                    f"  last run  {run.slot.isoformat()} {run.outcome} {run.job_id or ''}".rstrip()
                )

    def _setup_logging(self, level: str) -> None:
        logger = logging.getLogger("django_taskq.cron")
        logger.setLevel(level)
        if not any(getattr(handler, "_taskq_rqcron", False) for handler in logger.handlers):
            handler = logging.StreamHandler(self.stdout)  # type: ignore[arg-type]
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
            handler._taskq_rqcron = True  # type: ignore[attr-defined]
            logger.addHandler(handler)
