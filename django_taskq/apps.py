from __future__ import annotations

from django.apps import AppConfig


class DjangoTaskqConfig(AppConfig):
    name = "django_taskq"
    verbose_name = "Queues"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        # Registers the checks and the signal receivers.
        from . import checks, connections, transactions  # noqa: F401
        from .backends import checks as task_backend_checks  # noqa: F401
