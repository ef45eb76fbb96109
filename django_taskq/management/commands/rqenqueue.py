"""Enqueue a job from the shell: ``./manage.py rqenqueue -q high app.jobs.send --args-json '[1]'``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from rq.exceptions import TimeoutFormatError
from rq.utils import import_attribute, parse_timeout

from django_taskq.management.common import (
    check_queue_names,
    check_reachable,
    non_negative_number,
    redis_errors,
)
from django_taskq.management.exit_codes import ExitCode
from django_taskq.queues import get_queue


class Command(BaseCommand):
    help = (
        "Enqueue a call of a function given by its dotted path and print the job id. "
        "Plain ARGS are passed as strings; use --args-json/--kwargs-json for typed values."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "callable", metavar="dotted.path", help="The function to call, e.g. myapp.jobs.send."
        )
        parser.add_argument(
            "call_args", nargs="*", metavar="ARGS", help="Positional arguments, passed as strings."
        )
        parser.add_argument("-q", "--queue", default="default", help="Queue name (default: 'default').")
        parser.add_argument(
            "--args-json",
            metavar="JSON",
            help="Positional arguments as a JSON array, e.g. '[1, \"a\", null]' (instead of ARGS).",
        )
        parser.add_argument(
            "--kwargs-json", metavar="JSON", help="Keyword arguments as a JSON object, e.g. '{\"x\": 1}'."
        )
        parser.add_argument(
            "-t",
            "--timeout",
            help="Job timeout: seconds, or digits and a unit (30s, 10m, 2h, 1d); -1 for none.",
        )
        parser.add_argument("--result-ttl", type=int, metavar="SECONDS", help="Keep the result this long.")
        parser.add_argument(
            "--ttl", type=int, metavar="SECONDS", help="Discard the job if not started by then."
        )
        parser.add_argument("--failure-ttl", type=int, metavar="SECONDS", help="Keep a failed job this long.")
        parser.add_argument("--job-id", help="Use this job id instead of a generated one.")
        parser.add_argument("--description", help="Job description shown in the dashboard.")
        parser.add_argument("--at-front", action="store_true", help="Put the job at the front of the queue.")
        when = parser.add_mutually_exclusive_group()
        when.add_argument(
            "--at",
            metavar="ISO",
            help="Run at this time: ISO 8601 with a UTC offset, e.g. 2030-01-01T09:00:00+01:00.",
        )
        when.add_argument(
            "--in",
            dest="delay",
            type=non_negative_number,
            metavar="SECONDS",
            help="Run after this many seconds.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        request = EnqueueRequest.from_options(options)
        # Fail fast on a Redis that is down, before the job writer logs it with a traceback.
        check_reachable([request.queue])
        with redis_errors([request.queue]):
            job_id = request.enqueue()
        self.stdout.write(job_id)


@dataclass
class EnqueueRequest:
    """A validated enqueue: every check happens before anything is written to Redis."""

    queue: str
    func: str
    args: list[Any]
    kwargs: dict[str, Any]
    when: datetime | None = None
    at_front: bool = False
    job_options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> EnqueueRequest:
        (queue,) = check_queue_names([options["queue"]])
        func = _check_callable(options["callable"])
        if options.get("args_json") is not None and options.get("call_args"):
            raise CommandError(
                "Give positional arguments either as ARGS or with --args-json, not both.",
                returncode=ExitCode.ERROR,
            )
        args = _json_value(options.get("args_json"), "--args-json", list)
        kwargs = _json_value(options.get("kwargs_json"), "--kwargs-json", dict) or {}
        job_options: dict[str, Any] = {}
        if options.get("timeout") is not None:
            job_options["timeout"] = _timeout(options["timeout"])
        for name in ("result_ttl", "ttl", "failure_ttl", "description"):
            if options.get(name) is not None:
                job_options[name] = options[name]
        if options.get("job_id"):
            job_options["job_id"] = options["job_id"]
        return cls(
            queue=queue,
            func=func,
            args=args if args is not None else list(options.get("call_args") or []),
            kwargs=kwargs,
            when=_when(options.get("at"), options.get("delay")),
            at_front=bool(options.get("at_front")),
            job_options=job_options,
        )

    def enqueue(self) -> str:
        queue = get_queue(self.queue)
        job = queue.create_job(self.func, args=self.args, kwargs=self.kwargs, **self.job_options)
        if self.when is None:
            job = queue.enqueue_job(job, at_front=self.at_front)
        else:
            job = queue.schedule_job(job, self.when)
        return str(job.id)


def _check_callable(path: str) -> str:
    """The dotted path, once it is known to import to something callable."""
    if not path or path.startswith(".") or path.endswith("."):
        raise CommandError(f"{path!r} is not a dotted path to a function.", returncode=ExitCode.ERROR)
    try:
        target = import_attribute(path)
    except Exception as exc:  # the user's module may raise anything while importing
        raise CommandError(f"Cannot import {path!r}: {exc}", returncode=ExitCode.ERROR) from exc
    if not callable(target):
        raise CommandError(
            f"{path!r} is a {type(target).__name__}, not a callable.", returncode=ExitCode.ERROR
        )
    return path


def _json_value(text: str | None, flag: str, kind: type) -> Any:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise CommandError(f"{flag} is not valid JSON: {exc}", returncode=ExitCode.ERROR) from exc
    if not isinstance(value, kind):
        expected = "array" if kind is list else "object"
        raise CommandError(
            f"{flag} must be a JSON {expected}, not {type(value).__name__}: {text}", returncode=ExitCode.ERROR
        )
    return value


def _timeout(text: str) -> int:
    try:
        value = parse_timeout(text)
    except (TimeoutFormatError, ValueError) as exc:
        raise CommandError(f"--timeout {text!r}: {exc}", returncode=ExitCode.ERROR) from exc
    if value is None or (value <= 0 and value != -1):
        raise CommandError(
            f"--timeout {text!r}: give a positive duration, or -1 for none.", returncode=ExitCode.ERROR
        )
    return value


def _when(at: str | None, delay: float | None) -> datetime | None:
    if delay is not None:
        return datetime.now(timezone.utc) + timedelta(seconds=delay)
    if at is None:
        return None
    text = at.strip()
    if text.endswith(("Z", "z")):  # Python 3.10's fromisoformat does not take "Z"
        text = text[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(
            f"--at {at!r} is not an ISO 8601 date and time.", returncode=ExitCode.ERROR
        ) from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise CommandError(
            f"--at {at!r} has no UTC offset; add one so the time is not ambiguous, "
            f"e.g. {when.isoformat()}+00:00 or {when.isoformat()}Z.",
            returncode=ExitCode.ERROR,
        )
    return when.astimezone(timezone.utc)
