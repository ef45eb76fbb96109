"""Arguments shared by ``rqworker`` and ``rqworker-pool``, their validators, and worker wiring."""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils.module_loading import import_string
from rq.logutils import setup_loghandlers
from rq.worker import Worker

from django_taskq.exceptions import TaskqError
from django_taskq.management.common import (
    add_queue_arguments,
    check_queue_names,
    check_reachable,
    positive_int,
)
from django_taskq.management.exit_codes import ExitCode
from django_taskq.worker import WORKER_KINDS, get_worker, resolve_worker_class

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DEQUEUE_STRATEGIES = ("default", "round_robin", "random")


def dotted_path_or_kind(value: str) -> str:
    if value in WORKER_KINDS or ("." in value and all(part.isidentifier() for part in value.split("."))):
        return value
    kinds = ", ".join(sorted(WORKER_KINDS))
    raise argparse.ArgumentTypeError(f"{value!r} is neither a worker kind ({kinds}) nor a dotted path")


def dotted_path(value: str) -> str:
    if "." in value and all(part.isidentifier() for part in value.split(".")):
        return value
    raise argparse.ArgumentTypeError(f"{value!r} is not a dotted path (package.module.Name)")


SERIALIZERS = {"pickle": "rq.serializers.DefaultSerializer", "json": "rq.serializers.JSONSerializer"}


def serializer_path(value: str) -> str:
    return SERIALIZERS.get(value) or dotted_path(value)


def add_pid_argument(parser: CommandParser) -> None:
    parser.add_argument("--pid", metavar="FILE", help="Write the process id to FILE (removed on exit).")


def add_logging_level_argument(parser: CommandParser) -> None:
    parser.add_argument(
        "-l", "--logging-level", type=str.upper, choices=LEVELS, default=None,
        help="Log level (default: INFO; WARNING with -v 0, DEBUG with -v 2 or more).",
    )  # fmt: skip


def add_worker_arguments(parser: CommandParser, *, pool: bool = False) -> None:
    """The flags of ``rqworker``; ``pool=True`` leaves out the ones that name one process."""
    # Highest priority first; they must share one Redis connection.
    add_queue_arguments(parser, default="default")
    parser.add_argument("--burst", action="store_true", help="Exit once the queues are empty.")
    parser.add_argument(
        "--with-scheduler", action="store_true",
        help="Also move jobs from enqueue_at/enqueue_in to their queue when due (one scheduler per queue "
        "holds a lock, so several workers may pass this flag).",
    )  # fmt: skip
    parser.add_argument(
        "--with-cron", action="store_true",
        help="Also enqueue the periodic jobs of RQ_CRON (safe in several processes at once).",
    )  # fmt: skip
    if not pool:
        parser.add_argument("--name", help="Worker name (default: a random hex id).")
    parser.add_argument(
        "--worker-class", type=dotted_path_or_kind, default=None,
        help="Worker kind: prefork (default: one supervised long-lived work process), fork (a process "
        "per job), simple or inprocess (in the worker process), spawn (a new interpreter per job); "
        "or the dotted path of an RQ worker class. Default: RQ['WORKER_CLASS'] or prefork.",
    )  # fmt: skip
    parser.add_argument("--queue-class", type=dotted_path, help="Dotted path of the queue class.")
    parser.add_argument("--job-class", type=dotted_path, help="Dotted path of the job class.")
    parser.add_argument(
        "--serializer", type=serializer_path,
        help="Serializer: pickle, json, or a dotted path (must match the one jobs were enqueued with).",
    )  # fmt: skip
    parser.add_argument(
        "--worker-ttl", type=positive_int, default=None,
        help="Seconds after which a silent worker counts as dead (RQ's default: 420).",
    )  # fmt: skip
    parser.add_argument(
        "--max-jobs", type=positive_int, default=None, help="Exit after this many jobs" +
        (" (each pool member; it is then replaced)." if pool else "."),
    )  # fmt: skip
    parser.add_argument(
        "--max-idle-time", type=positive_int, default=None,
        help="Exit after this many seconds without a job.",
    )  # fmt: skip
    parser.add_argument(
        "--dequeue-strategy", choices=DEQUEUE_STRATEGIES, default="default",
        help="default: strict priority in the order given; round_robin; random.",
    )  # fmt: skip
    add_pid_argument(parser)
    add_logging_level_argument(parser)
    parser.add_argument(
        "--heartbeat-interval", type=positive_int, default=None,
        help="Seconds between two heartbeats of a running job (default 3). A job whose heartbeat "
        "stops (its worker died) is failed or retried about 4 intervals + 2 s later (14 s by default).",
    )  # fmt: skip
    parser.add_argument(
        "--maintenance-interval", type=positive_int, default=None,
        help="Seconds between two registry clean-ups, which fail or retry abandoned jobs (default 30).",
    )  # fmt: skip


def logging_level(level: str | None, verbosity: int) -> str:
    return level or {0: "WARNING", 1: "INFO"}.get(verbosity, "DEBUG")


def setup_logging(level: str) -> None:
    for name in ("rq.worker", "rq.job", "rq.scheduler", "django_taskq"):
        setup_loghandlers(level, name=name)
        logging.getLogger(name).setLevel(level)


def build_worker(options: dict[str, Any], name: str | None = None) -> Worker:
    """The worker for the parsed options; CommandError for anything the user got wrong."""
    queue_names: list[str] = options["queues"] or ["default"]
    check_queue_names(queue_names)
    try:
        worker_class = resolve_worker_class(options.get("worker_class"))
        for path in (options.get("queue_class"), options.get("job_class"), options.get("serializer")):
            if path:
                import_string(path)
    except (ImportError, TypeError, ValueError) as exc:
        raise CommandError(f"Cannot use that class: {exc}", returncode=ExitCode.ERROR) from exc
    from django_taskq.queues import get_queues

    try:
        get_queues(*queue_names)
    except TaskqError as exc:
        raise CommandError(str(exc), returncode=ExitCode.ERROR) from exc
    check_reachable(queue_names)
    kwargs: dict[str, Any] = {"name": name}
    if options.get("worker_ttl"):
        kwargs["worker_ttl"] = options["worker_ttl"]
    if options.get("heartbeat_interval"):
        kwargs["heartbeat_interval"] = options["heartbeat_interval"]
    if options.get("maintenance_interval"):
        kwargs["maintenance_interval"] = options["maintenance_interval"]
    try:
        worker = get_worker(
            *queue_names,
            worker_class=worker_class,
            job_class=options.get("job_class"),
            queue_class=options.get("queue_class"),
            serializer=options.get("serializer"),
            **kwargs,
        )
    except (TaskqError, ImportError, TypeError, ValueError) as exc:
        raise CommandError(f"Cannot build the worker: {exc}", returncode=ExitCode.ERROR) from exc
    from django_taskq.outbox.relay import PeriodicRelay

    worker.taskq_outbox_relay = PeriodicRelay()  # type: ignore[attr-defined]  # every queue's outbox rows
    return worker


def cron_starter(worker: Worker) -> Callable[[], Callable[[], None]]:
    """A callable that starts the RQ_CRON thread (in the process that runs the worker loop)."""

    def start() -> Callable[[], None]:
        from django_taskq.cron import start_cron_thread

        return start_cron_thread(connection=worker.connection)

    return start


class PidFile:
    """Writes this process's id to a file and removes it afterwards."""

    def __init__(self, path: str | None) -> None:
        self.path = Path(path) if path else None

    def __enter__(self) -> PidFile:
        if self.path is not None:
            try:
                self.path.write_text(f"{os.getpid()}\n")
            except OSError as exc:
                raise CommandError(
                    f"Cannot write the pid file {self.path}: {exc.strerror}", returncode=ExitCode.ERROR
                ) from exc
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.path is not None:
            try:
                if self.path.read_text().strip() == str(os.getpid()):
                    self.path.unlink()
            except OSError:
                pass


def check_cron() -> None:
    """CommandError unless RQ_CRON loads (for --with-cron)."""
    try:
        from django_taskq.cron import load_entries
    except ImportError as exc:
        raise CommandError(f"--with-cron is not available: {exc}", returncode=ExitCode.ERROR) from exc
    try:
        load_entries()
    except Exception as exc:
        raise CommandError(f"RQ_CRON is invalid: {exc}", returncode=ExitCode.ERROR) from exc
