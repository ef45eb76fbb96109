"""Resume suspended workers: ``./manage.py rqresume [QUEUE ...]``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from rq.suspension import resume

from django_taskq.connections import connection_groups
from django_taskq.management.common import add_queue_arguments, check_queue_names, redis_errors


class Command(BaseCommand):
    help = (
        "Resume the workers that rqsuspend suspended, on every configured Redis connection (or on "
        "those of the queues given)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_queue_arguments(parser, default="every connection of RQ_QUEUES")

    def handle(self, *args: Any, queues: list[str] | None, **options: Any) -> None:
        names = check_queue_names(queues) if queues else None
        with redis_errors(names):
            for group in connection_groups(names):
                was_suspended = bool(resume(group.client))
                state = "Resumed workers" if was_suspended else "Workers were not suspended"
                self.stdout.write(
                    self.style.SUCCESS(f"{state} on {group.location}")
                    + f" (queues: {', '.join(group.names)})"
                )
