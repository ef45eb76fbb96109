"""Suspend the workers: ``./manage.py rqsuspend [QUEUE ...] [-d SECONDS]``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from rq.suspension import suspend

from django_taskq.connections import connection_groups
from django_taskq.management.common import add_queue_arguments, check_queue_names, positive_int, redis_errors


class Command(BaseCommand):
    help = (
        "Suspend the workers of every configured Redis connection (or of the queues given): they "
        "finish their current job and take no new one until rqresume or the end of --duration. "
        "Suspension is per Redis connection, so it covers every queue that shares it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_queue_arguments(parser, default="every connection of RQ_QUEUES")
        parser.add_argument(
            "-d",
            "--duration",
            type=positive_int,
            metavar="SECONDS",
            help="Resume by itself after this many seconds (default: until rqresume).",
        )

    def handle(self, *args: Any, queues: list[str] | None, duration: int | None, **options: Any) -> None:
        names = check_queue_names(queues) if queues else None
        with redis_errors(names):
            for group in connection_groups(names):
                suspend(group.client, duration)
                until = f" for {duration} seconds" if duration else " until rqresume"
                self.stdout.write(
                    self.style.SUCCESS(f"Suspended workers on {group.location}{until}")
                    + f" (queues: {', '.join(group.names)})"
                )
