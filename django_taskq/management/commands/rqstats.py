"""Queue statistics: ``./manage.py rqstats [QUEUE ...] [-j | -y] [-i SECONDS]``."""

from __future__ import annotations

import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_taskq.management.common import (
    add_queue_arguments,
    check_queue_names,
    plural,
    positive_number,
    redis_errors,
)
from django_taskq.management.exit_codes import ExitCode
from django_taskq.stats import gather

COLUMNS = (
    ("Name", "name"),
    ("Queued", "queued"),
    ("Started", "started"),
    ("Deferred", "deferred"),
    ("Finished", "finished"),
    ("Failed", "failed"),
    ("Scheduled", "scheduled"),
    ("Canceled", "canceled"),
    ("Workers", "workers"),
    ("Oldest queued", "oldest_queued_age"),
)
CLEAR_SCREEN = "\x1b[H\x1b[2J"


class Command(BaseCommand):
    help = (
        "Show how many jobs each queue holds in each state, its workers and the age of its oldest "
        "queued job. One pipelined Redis round trip per connection; no registry clean-up."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_queue_arguments(parser, default="every queue of RQ_QUEUES")
        output = parser.add_mutually_exclusive_group()
        output.add_argument(
            "-j", "--json", action="store_true", help="Print JSON (schema in docs/api-stats.rst)."
        )
        output.add_argument(
            "-y", "--yaml", action="store_true", help="Print YAML, the same data as --json (PyYAML)."
        )
        parser.add_argument(
            "-i",
            "--interval",
            type=positive_number,
            metavar="SECONDS",
            help="Print again every SECONDS seconds until Ctrl-C (exit status 0).",
        )

    def handle(
        self,
        *args: Any,
        queues: list[str] | None,
        json: bool,
        yaml: bool,
        interval: float | None,
        **options: Any,
    ) -> None:
        names = check_queue_names(queues) if queues else None
        render = self._renderer(
            "json" if json else "yaml" if yaml else "table", repeated=interval is not None
        )
        with redis_errors(names):
            text = render(gather(names).as_dict())
        if interval is None:
            self.stdout.write(text)
            return
        try:
            self._repeat(render, names, text, interval)
        except KeyboardInterrupt:
            self.stdout.write("")

    def _repeat(self, render: Any, names: list[str] | None, first: str, interval: float) -> None:
        """Redraw until Ctrl-C. A lost Redis is reported on stderr and retried, not fatal."""
        table = render.__name__ == "_table"
        # A terminal gets the table redrawn in place; a pipe gets frames apart by a blank line.
        separator = (CLEAR_SCREEN if self.stdout.isatty() else "\n") if table else ""
        text: str | None = first
        frames = 0
        while True:
            if text is not None:
                self.stdout.write((separator if frames or separator == CLEAR_SCREEN else "") + text)
                self.stdout.flush()
                frames += 1
            time.sleep(interval)
            try:
                with redis_errors(names):
                    text = render(gather(names).as_dict())
            except CommandError as exc:
                self.stderr.write(str(exc))
                text = None

    def _renderer(self, kind: str, *, repeated: bool) -> Any:
        if kind == "json":

            def _json(data: dict[str, Any]) -> str:
                # One document per line when repeated (JSON Lines), indented otherwise.
                return json_dumps(data, indent=None if repeated else 2)

            return _json
        if kind == "yaml":
            try:
                import yaml as pyyaml
            except ImportError:
                raise CommandError(
                    "--yaml needs PyYAML: pip install 'django-taskq[yaml]' (or use --json).",
                    returncode=ExitCode.ERROR,
                ) from None

            def _yaml(data: dict[str, Any]) -> str:
                dumped: str = pyyaml.safe_dump(data, sort_keys=False, explicit_start=repeated)
                return dumped.rstrip("\n")

            return _yaml

        def _table(data: dict[str, Any]) -> str:
            return self.render_table(data)

        return _table

    def render_table(self, data: dict[str, Any]) -> str:
        """The plain table: one row per queue, then one line per Redis connection."""
        header = [title for title, _key in COLUMNS]
        rows = [[_cell(key, queue[key]) for _title, key in COLUMNS] for queue in data["queues"]]
        widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]

        def line(cells: list[str]) -> str:
            first, *rest = cells
            right = (cell.rjust(width) for cell, width in zip(rest, widths[1:], strict=True))
            return "  ".join([first.ljust(widths[0]), *right])

        out = [self.style.MIGRATE_HEADING(line(header))]
        for queue, row in zip(data["queues"], rows, strict=True):
            text = line(row)
            out.append(self.style.ERROR(text) if queue["failed"] else text)
        if not rows:
            out.append("(no queues)")
        out.append("")
        for conn in data["connections"]:
            state = self.style.WARNING("workers suspended") if conn["suspended"] else "running"
            out.append(
                f"{conn['location']}: {plural(len(conn['queues']), 'queue')}, "
                f"{plural(conn['workers'], 'worker')}, {state}"
            )
        if data.get("outbox") is not None:
            out.append(self.outbox_line(data["outbox"]))
        return "\n".join(out)

    def outbox_line(self, outbox: dict[str, Any]) -> str:
        """Jobs waiting in the outbox table (pushed by the relay) and the oldest one's age."""
        line = f"Outbox: {plural(outbox['jobs'], 'job')} waiting"
        if outbox["oldest_age"] is not None:
            line += f", oldest {format_age(float(outbox['oldest_age']))}"
        if outbox["errors"]:
            return self.style.WARNING(f"{line}; not read: {', '.join(outbox['errors'])}")
        return self.style.WARNING(line) if outbox["jobs"] else line


def json_dumps(data: dict[str, Any], *, indent: int | None) -> str:
    return json.dumps(data, indent=indent, ensure_ascii=False)


def _cell(key: str, value: Any) -> str:
    if key == "oldest_queued_age":
        return "-" if value is None else format_age(float(value))
    return str(value)


def format_age(seconds: float) -> str:
    """A short human duration: 42s, 5m 03s, 2h 07m, 3d 04h."""
    whole = int(seconds)
    if whole < 60:
        return f"{seconds:.0f}s" if seconds >= 1 else f"{seconds:.1f}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"
