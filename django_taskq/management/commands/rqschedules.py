"""Schedule rows to and from RQ_CRON: ``./manage.py rqschedules export|import``."""

from __future__ import annotations

import json
import pprint
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_taskq.conf import taskq_settings
from django_taskq.management.exit_codes import ExitCode
from django_taskq.models import Schedule
from django_taskq.schedules.transfer import TransferError, export_entries, import_entries


class Command(BaseCommand):
    help = (
        "Export the enabled Schedule rows as RQ_CRON entries, or import RQ_CRON entries (a JSON or "
        "YAML file, or the RQ_CRON setting) as Schedule rows."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="subcommand", required=True, metavar="{export,import}")
        export = commands.add_parser("export", help="Print the enabled rows as an RQ_CRON list.")
        export.add_argument(
            "--format", choices=("json", "python"), default="json", dest="output_format",
            help="JSON (default) or a Python RQ_CRON = [...] assignment for settings.py.",
        )  # fmt: skip
        export.add_argument(
            "--skip-unsupported", action="store_true",
            help="Leave out the rows RQ_CRON cannot express (run at, max runs, a window, another "
            "time zone) instead of failing; they are listed on stderr.",
        )  # fmt: skip
        imp = commands.add_parser("import", help="Save RQ_CRON entries as rows, all or none.")
        source = imp.add_mutually_exclusive_group(required=True)
        source.add_argument(
            "file", nargs="?", help="A JSON or YAML file (.yaml/.yml), or - for JSON on stdin."
        )
        source.add_argument("--from-settings", action="store_true", help="Import the RQ_CRON setting.")
        imp.add_argument("--update", action="store_true", help="Overwrite the rows of the same name.")
        imp.add_argument(
            "--drop-unsupported", action="store_true",
            help="Drop the keys a row has no field for (failure_ttl, meta, at_front, grace) "
            "instead of failing; they are listed on stderr.",
        )  # fmt: skip

    def handle(self, *args: Any, subcommand: str, **options: Any) -> None:
        try:
            if subcommand == "export":
                self._export(options["output_format"], options["skip_unsupported"])
            else:
                items = taskq_settings.CRON if options["from_settings"] else self._read(options["file"])
                self._import(items, options["update"], options["drop_unsupported"])
        except TransferError as exc:
            raise CommandError(f"Nothing done:\n{exc}", returncode=ExitCode.ERROR) from exc

    def _export(self, output_format: str, skip_unsupported: bool) -> None:
        result = export_entries(Schedule.objects.order_by("name"), skip_unsupported=skip_unsupported)
        if output_format == "python":
            self.stdout.write(f"RQ_CRON = {pprint.pformat(result.entries, sort_dicts=False, width=100)}")
        else:
            self.stdout.write(json.dumps(result.entries, indent=2))
        for name in result.disabled:
            self.stderr.write(f"Left out {name}: disabled (RQ_CRON would run it).")
        for line in result.skipped:
            self.stderr.write(f"Left out {line}.")

    def _import(self, items: Any, update: bool, drop_unsupported: bool) -> None:
        result = import_entries(items, update=update, drop_unsupported=drop_unsupported)
        for line in result.dropped:
            self.stderr.write(f"Dropped from {line}.")
        self.stdout.write(
            self.style.SUCCESS(f"Imported {len(result.created) + len(result.updated)} schedule(s): "
                               f"{len(result.created)} created, {len(result.updated)} updated.")
        )  # fmt: skip

    def _read(self, name: str) -> Any:
        try:
            text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(
                f"Cannot read {name}: {exc.strerror or exc}.", returncode=ExitCode.ERROR
            ) from exc
        if name.endswith((".yaml", ".yml")):
            data = self._yaml(name, text)
        else:
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise CommandError(f"{name} is not valid JSON: {exc}.", returncode=ExitCode.ERROR) from exc
        if isinstance(data, dict) and "RQ_CRON" in data:
            data = data["RQ_CRON"]  # a file that names the setting: {"RQ_CRON": [...]}
        return data

    def _yaml(self, name: str, text: str) -> Any:
        try:
            import yaml
        except ImportError as exc:
            raise CommandError(
                "YAML needs PyYAML: pip install 'django-taskq[yaml]' (or use JSON).",
                returncode=ExitCode.ERROR,
            ) from exc
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise CommandError(f"{name} is not valid YAML: {exc}", returncode=ExitCode.ERROR) from exc
