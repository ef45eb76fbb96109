"""Health probe for orchestrators: ``./manage.py rqhealth high default`` exits 0 only if served."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_taskq.conf import taskq_settings
from django_taskq.health import coverage
from django_taskq.management.common import (
    add_queue_arguments,
    check_queue_names,
    plural,
    positive_number,
    redis_errors,
)
from django_taskq.management.exit_codes import ExitCode


class Command(BaseCommand):
    help = (
        "Exit 0 only if at least one live worker (heartbeat not expired) serves each named queue "
        "(default: every queue that is not ASYNC=False); otherwise exit 1 naming the queues no "
        "worker serves. Exit 3 if Redis cannot be reached. For liveness/readiness probes."
    )
    requires_system_checks: list[str] = []  # a probe must be quick and only judge the workers

    def add_arguments(self, parser: CommandParser) -> None:
        add_queue_arguments(parser, default="every queue that is not ASYNC=False")
        parser.add_argument(
            "--max-heartbeat-age",
            type=positive_number,
            metavar="SECONDS",
            help="Also require a heartbeat at most this old (keep it above the workers' TTL).",
        )

    def handle(self, *args: Any, queues: list[str], max_heartbeat_age: float | None, **options: Any) -> None:
        if queues:
            names = check_queue_names(queues)
        else:
            names = [name for name, config in taskq_settings.QUEUES.items() if config.get("ASYNC", True)]
        with redis_errors(names):
            result = coverage(names, max_heartbeat_age=max_heartbeat_age)
        uncovered = result.uncovered
        if uncovered:
            raise CommandError(
                f"No live worker serves {', '.join(uncovered)}.",
                returncode=ExitCode.ERROR,
            )
        summary = ", ".join(
            f"{name} ({plural(len(workers), 'worker')})" for name, workers in result.workers.items()
        )
        self.stdout.write(self.style.SUCCESS(f"OK: {summary}"))
        for location in result.suspended:
            self.stdout.write(self.style.WARNING(f"Note: workers on {location} are suspended (rqresume)."))
