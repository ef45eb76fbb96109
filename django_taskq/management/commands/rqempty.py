"""Delete every queued job of queues: ``./manage.py rqempty QUEUE [QUEUE ...] [--noinput]``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_taskq import maintenance
from django_taskq.management.common import (
    add_bulk_arguments,
    add_queue_arguments,
    confirm,
    plural,
    redis_errors,
    required_queues,
)
from django_taskq.management.exit_codes import ExitCode


class Command(BaseCommand):
    help = (
        "Delete every queued job (and its data) of the given queues, in batches. Jobs that are "
        "running, scheduled, failed or finished are not touched."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_queue_arguments(parser, default="none: name one at least")
        add_bulk_arguments(parser, what="Jobs", confirm_help="Do not ask for confirmation.")

    def handle(
        self, *args: Any, queues: list[str], interactive: bool, batch_size: int, **options: Any
    ) -> None:
        names = required_queues(queues)
        if interactive and not confirm(f"This deletes every queued job of {', '.join(names)}."):
            raise CommandError("Cancelled: nothing was deleted.", returncode=ExitCode.ERROR)
        with redis_errors(names):
            for name in names:
                count = maintenance.empty_queue(name, batch_size=batch_size)
                self.stdout.write(self.style.SUCCESS(f"{name}: deleted {plural(count, 'queued job')}"))
