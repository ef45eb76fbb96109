"""Errors recorded on a task's result when RQ ended it without the task raising anything."""

from __future__ import annotations


class TaskStopped(Exception):
    """The job was stopped on request (``rq.command.send_stop_job_command``) while it ran."""


class TaskCanceled(Exception):
    """The job was canceled before it ran."""


class WorkerLost(Exception):
    """The process running the task died (killed, out of memory...) before it could report."""
