"""Run a worker: ``./manage.py rqworker high default low`` (queue order is priority)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import autoreload

from django_taskq.management.exit_codes import ExitCode
from django_taskq.management.worker_options import (
    PidFile,
    add_worker_arguments,
    build_worker,
    check_cron,
    cron_starter,
    logging_level,
    setup_logging,
)
from django_taskq.worker import WorkerStartupError


class Command(BaseCommand):
    help = (
        "Start a worker for the given queues (default: 'default'), highest priority first. "
        "SIGTERM or Ctrl+C once: finish the current job and exit 0; twice: stop the job too "
        "(it is failed, or retried per its Retry)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_worker_arguments(parser)
        parser.add_argument(
            "--reload",
            action="store_true",
            help="Restart the worker when Python code changes (development only); the current job "
            "finishes first. Implies --worker-class simple unless given, so that the modules the "
            "jobs import are watched too.",
        )

    def handle(self, *args: Any, queues: list[str], burst: bool, with_scheduler: bool, with_cron: bool,
               name: str | None, dequeue_strategy: str, max_jobs: int | None, max_idle_time: int | None,
               pid: str | None, logging_level: str | None, verbosity: int, reload: bool,
               **options: Any) -> None:  # fmt: skip
        level = _level(logging_level, verbosity)
        options["queues"] = queues
        if reload and not options.get("worker_class"):
            # Jobs run in this process, so the reloader also watches the modules they import.
            options["worker_class"] = "simple"
        # Everything that can fail on bad input fails here, before any reloader process starts.
        worker = build_worker(options, name=name)
        if with_cron:
            check_cron()
        if reload and os.environ.get(autoreload.DJANGO_AUTORELOAD_ENV) != "true":
            code = _run_reloader()
            if code:
                raise CommandError(f"The worker exited with code {code}.", returncode=code)
            return
        setup_logging(level)
        if with_cron:
            worker.startup_hooks.append(cron_starter(worker))  # type: ignore[attr-defined]
        watcher = _start_change_watcher() if reload else None
        with PidFile(pid):
            try:
                worker.work(
                    burst=burst,
                    logging_level=level,
                    max_jobs=max_jobs,
                    max_idle_time=max_idle_time,
                    with_scheduler=with_scheduler,
                    dequeue_strategy=dequeue_strategy,  # type: ignore[arg-type]
                )
            except WorkerStartupError as exc:
                raise CommandError(f"The worker could not start: {exc}", returncode=ExitCode.ERROR) from exc
            except ValueError as exc:  # e.g. RQ: "There exists an active worker named ..."
                raise CommandError(str(exc), returncode=ExitCode.ERROR) from exc
        if watcher is not None and watcher.is_set():
            # Not Django's trigger_reload(): its code 3 would be ours for "Redis unreachable".
            raise SystemExit(ExitCode.RELOAD)  # _run_reloader starts this command again


def _level(level: str | None, verbosity: int) -> str:
    return logging_level(level, verbosity)


def _run_reloader() -> int:
    """Run this same command in a child process, again each time it exits with ExitCode.RELOAD."""
    env = {**os.environ, autoreload.DJANGO_AUTORELOAD_ENV: "true"}
    args = autoreload.get_child_arguments()
    while True:
        process = subprocess.Popen(args, env=env, close_fds=False)  # noqa: S603 - our own argv
        forward = process.send_signal
        previous = {
            sig: signal.signal(sig, lambda signum, frame, forward=forward: forward(signum))  # type: ignore[misc]
            for sig in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            code = process.wait()
            while code is None:  # pragma: no cover
                code = process.wait()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if code != ExitCode.RELOAD:
            return code if code >= 0 else 128 - code  # killed by signal N: 128 + N, as a shell says


def _start_change_watcher() -> threading.Event:
    """Watch the loaded Python files; on a change, ask this worker to stop after its current job."""
    changed = threading.Event()

    def on_change(sender: Any, file_path: Any, **kwargs: Any) -> bool:
        if not changed.is_set():
            changed.set()
            sys.stderr.write(f"{file_path} changed, restarting the worker after the current job.\n")
            os.kill(os.getpid(), signal.SIGTERM)
        return True  # handled: Django's reloader must not exit from its thread

    autoreload.file_changed.connect(on_change, weak=False)
    reloader = autoreload.get_reloader()
    thread = threading.Thread(target=reloader.run_loop, name="taskq-reloader", daemon=True)
    thread.start()
    return changed
