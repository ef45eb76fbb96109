"""The RQ_CRON checks (E030-E039, W030): the schedule's own validation, as check messages."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, register

from ..cron.schedule import Problem, validate_setting
from .messages import error, warning


@register("django_taskq")
def check_cron(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    return [as_message(problem) for problem in validate_setting(getattr(settings, "RQ_CRON", []))]


def as_message(problem: Problem) -> CheckMessage:
    build = warning if problem.warning else error
    return build(problem.number, problem.msg, problem.hint, problem.obj)
