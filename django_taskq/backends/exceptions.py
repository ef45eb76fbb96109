"""The errors of RQBackend: those ``enqueue()`` raises, and those recorded on a task's result
when RQ ended it without the task raising anything."""

from __future__ import annotations

from .compat import InvalidTask


class InvalidTaskArguments(InvalidTask, TypeError):
    """Arguments a task cannot be given. Also a ``TypeError``: what Django's own backends raise
    for the values they refuse (``normalize_json``), so code written for them catches it."""


class InvalidTaskArgumentValue(InvalidTaskArguments, ValueError):
    """Bytes that are not UTF-8, for which Django's own backends raise ``ValueError``."""


class TaskStopped(Exception):
    """The job was stopped on request (``rq.command.send_stop_job_command``) while it ran."""


class TaskCanceled(Exception):
    """The job was canceled before it ran."""


class WorkerLost(Exception):
    """The process running the task died (killed, out of memory...) before it could report."""
