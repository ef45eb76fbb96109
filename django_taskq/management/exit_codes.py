"""The exit statuses of every django-taskq command: the one table (docs/commands.rst lists it)."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    # A bad value, an unknown queue, a refused confirmation, an invalid RQ_CRON, a worker that
    # cannot start, an unhealthy probe. Also Django's own for CommandError and failed checks.
    ERROR = 1
    # argparse's own: a malformed command line (unknown flag, missing or refused value).
    USAGE = 2
    # Redis could not be reached or answered with an error (see common.redis_errors).
    REDIS = 3
    # Never a command's status: the ``rqworker --reload`` child asks its parent to start it
    # again. Django's reloader uses 3 for this, which here means REDIS: a child that cannot
    # reach Redis must stop the command, not be restarted forever.
    RELOAD = 4
