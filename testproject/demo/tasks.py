"""A Django Tasks framework task, run on the demo's queues by django_taskq.backends.RQBackend."""

try:
    from django.tasks import task  # Django 6.0+
except ImportError:  # Django 5.2: the django-tasks backport
    from django_tasks import task


@task(queue_name="default")
def count_words(text: str) -> int:
    """Count the words of a text."""
    return len(text.split())
