"""Tidy registries: ``./manage.py rqclean [QUEUE ...]``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from django_taskq import maintenance
from django_taskq.conf import taskq_settings
from django_taskq.management.common import (
    add_bulk_arguments,
    add_queue_arguments,
    check_queue_names,
    redis_errors,
)


class Command(BaseCommand):
    help = (
        "Clean the job registries of the given queues (default: all): jobs of dead workers are "
        "failed or retried, expired entries and entries of deleted jobs are dropped. In batches."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_queue_arguments(parser, default="every queue of RQ_QUEUES")
        add_bulk_arguments(parser, what="Entries", confirm_help=None)

    def handle(self, *args: Any, queues: list[str], batch_size: int, **options: Any) -> None:
        names = check_queue_names(queues) if queues else list(taskq_settings.QUEUES)
        with redis_errors(names):
            for name in names:
                removed = maintenance.clean_registries(name, batch_size=batch_size)
                details = ", ".join(f"{registry} {count}" for registry, count in removed.items())
                self.stdout.write(
                    self.style.SUCCESS(f"{name}: removed {sum(removed.values())}") + f" ({details})"
                )
