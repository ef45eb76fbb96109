"""Failed jobs: ``./manage.py rqfailed QUEUE [QUEUE ...] [--requeue | --delete]``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_taskq import maintenance
from django_taskq.management.common import (
    add_bulk_arguments,
    add_queue_arguments,
    confirm,
    plural,
    positive_int,
    redis_errors,
    required_queues,
)
from django_taskq.management.exit_codes import ExitCode
from django_taskq.queues import get_queue


class Command(BaseCommand):
    help = (
        "Requeue or delete every failed (and stopped) job of the given queues, in batches. "
        "Without --requeue or --delete, show how many there are and the most recent ones."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_queue_arguments(parser, default="none: name one at least")
        action = parser.add_mutually_exclusive_group()
        action.add_argument("--requeue", action="store_true", help="Put the failed jobs back on their queue.")
        action.add_argument("--delete", action="store_true", help="Delete the failed jobs and their data.")
        parser.add_argument(
            "--at-front", action="store_true", help="With --requeue: put them at the front of the queue."
        )
        parser.add_argument(
            "--limit",
            type=positive_int,
            default=10,
            help="Without an action: how many recent failed jobs to list per queue (default: 10).",
        )
        add_bulk_arguments(parser, what="Jobs", confirm_help="With --delete: do not ask for confirmation.")

    def handle(
        self,
        *args: Any,
        queues: list[str],
        requeue: bool,
        delete: bool,
        at_front: bool,
        limit: int,
        interactive: bool,
        batch_size: int,
        **options: Any,
    ) -> None:
        names = required_queues(queues)
        if at_front and not requeue:
            raise CommandError("--at-front only goes with --requeue.", returncode=ExitCode.ERROR)
        if delete and interactive and not confirm(f"This deletes every failed job of {', '.join(names)}."):
            raise CommandError("Cancelled: nothing was deleted.", returncode=ExitCode.ERROR)
        with redis_errors(names):
            for name in names:
                if requeue:
                    count = maintenance.requeue_failed(name, at_front=at_front, batch_size=batch_size)
                    self.stdout.write(self.style.SUCCESS(f"{name}: requeued {plural(count, 'failed job')}"))
                elif delete:
                    count = maintenance.delete_failed(name, batch_size=batch_size)
                    self.stdout.write(self.style.SUCCESS(f"{name}: deleted {plural(count, 'failed job')}"))
                else:
                    self._show(name, limit)

    def _show(self, name: str, limit: int) -> None:
        queue = get_queue(name)
        registry = queue.failed_job_registry
        total = registry.get_job_count(cleanup=False)
        self.stdout.write(self.style.MIGRATE_HEADING(f"{name}: {plural(total, 'failed job')}"))
        ids = registry.get_job_ids(0, limit - 1, desc=True, cleanup=False)
        for job in queue.job_class.fetch_many(ids, connection=queue.connection, serializer=queue.serializer):
            if job is None:
                continue
            ended = job.ended_at.isoformat(timespec="seconds") if job.ended_at else "-"
            self.stdout.write(f"  {job.id}  {ended}  {job.func_name}")
