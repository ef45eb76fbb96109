"""A project written against django-rq 4.2's README runs on django-taskq after renaming the import.

The project below is what that README has its users write: ``RQ_QUEUES`` with HOST/PORT/DB,
``include("django_rq.urls")`` at ``django-rq/``, a ``@job("high")`` function, a management
command that calls ``django_rq.enqueue(...)``, a cron config module of ``rq.cron.register()``
calls and ``RQ_API_TOKEN`` for the JSON and metrics. The test then follows the "switch in 5
minutes" walkthrough of docs/migrating.rst, running its very rename command, and uses the
README's commands, flags and JSON keys.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import textwrap
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
import yaml
from django.conf import settings
from rq.job import Job

from django_taskq.queues import get_queue
from django_taskq.rq_compat.storage import suspended_key
from tests.command_helpers import ROOT, background, manage, wait_for

pytestmark = pytest.mark.usefixtures("processes")

TOKEN = "dropin-token-0123456789"

PROJECT = {
    "proj/__init__.py": "",
    "proj/settings.py": """
        from pathlib import Path

        BASE_DIR = Path(__file__).resolve().parent.parent
        SECRET_KEY = "drop-in"
        ALLOWED_HOSTS = ["testserver"]
        INSTALLED_APPS = [
            "django.contrib.admin",
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "django.contrib.staticfiles",
            "django_rq",
            "shop",
        ]
        MIDDLEWARE = [
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
        ]
        ROOT_URLCONF = "proj.urls"
        TEMPLATES = [{
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "APP_DIRS": True,
            "OPTIONS": {"context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]},
        }]
        DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}}
        DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
        STATIC_URL = "/static/"
        USE_TZ = True

        RQ_QUEUES = {
            "default": {"HOST": "{host}", "PORT": {port}, "DB": {db}, "DEFAULT_TIMEOUT": 360},
            "high": {"HOST": "{host}", "PORT": {port}, "DB": {db}, "DEFAULT_TIMEOUT": 500},
            "low": {"HOST": "{host}", "PORT": {port}, "DB": {db}},
        }
        RQ_API_TOKEN = "{token}"
    """,
    "proj/urls.py": """
        from django.contrib import admin
        from django.urls import include, path

        urlpatterns = [
            path("admin/", admin.site.urls),
            path('django-rq/', include('django_rq.urls')),
        ]
    """,
    # The other spelling of the mount: the rename must leave its prefix alone.
    "proj/old_urls.py": """
        from django.urls import include, path

        urlpatterns = [path("django_rq/", include("django_rq.urls"))]
    """,
    "shop/__init__.py": "",
    "shop/jobs.py": """
        import django_rq
        from django_rq import job


        def plain(label):
            django_rq.get_connection("default").rpush("dropin:ran", label)


        @job("high")
        def send_one(label):
            plain(label)
    """,
    "shop/management/__init__.py": "",
    "shop/management/commands/__init__.py": "",
    "shop/management/commands/queue_emails.py": """
        import django_rq
        from django.core.management.base import BaseCommand

        from shop.jobs import plain, send_one


        class Command(BaseCommand):
            def handle(self, *args, **options):
                django_rq.enqueue(plain, "default-1")
                django_rq.get_queue("low").enqueue(plain, "low-1")
                send_one.delay("high-1")
                django_rq.enqueue(send_one, "default-2")  # a @job function, enqueued as a callable
                self.stdout.write("queued")
    """,
    "cron_config.py": """
        from rq import cron
        from shop.jobs import plain

        cron.register(plain, queue_name="default", args=("cron",), interval=60)
    """,
}


def write_project(directory: Path) -> None:
    url = urlsplit(settings.REDIS_URL)
    values = {"host": url.hostname, "port": url.port, "db": int(url.path.strip("/") or 0), "token": TOKEN}
    for name, text in PROJECT.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        text = textwrap.dedent(text).lstrip()
        for key, value in values.items():
            text = text.replace("{" + key + "}", str(value))
        path.write_text(text)


def rename_command() -> str:
    """The rename command of docs/migrating.rst, exactly as documented."""
    text = (ROOT / "docs" / "migrating.rst").read_text()
    (command,) = {line.strip() for line in text.splitlines() if line.strip().startswith("grep -rl django_rq")}
    return command


def run(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    result = manage(*args, settings="proj.settings", PYTHONPATH=str(project), **env)
    assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    return result


def stats(project: Path, *flags: str) -> dict[str, dict]:
    data = json.loads(run(project, "rqstats", *flags).stdout)
    return {queue["name"]: queue for queue in data["queues"]}


def ran(client: redis.Redis) -> list[str]:
    return [item.decode() for item in client.lrange("dropin:ran", 0, -1)]


def test_a_django_rq_project_switches_by_renaming_the_import(
    tmp_path: Path, redis_client: redis.Redis
) -> None:
    project = tmp_path / "project"
    write_project(project)

    # 1. Rename the imports, with the command of the migration guide.
    subprocess.run(["sh", "-c", rename_command()], cwd=project, check=True)
    left = {
        str(path.relative_to(project)): line.strip()
        for path in project.rglob("*.py")
        for line in path.read_text().splitlines()
        if "django_rq" in line
    }
    assert left == {"proj/old_urls.py": 'urlpatterns = [path("django_rq/", include("django_taskq.urls"))]'}
    assert "path('django-rq/', include('django_taskq.urls'))" in (project / "proj/urls.py").read_text()
    assert '"django_taskq",' in (project / "proj/settings.py").read_text()

    # 2. migrate and check, as after installing any app.
    run(project, "migrate", "--noinput", "-v", "0")
    run(project, "check", "--deploy")

    # 3. The project's own command enqueues, as it did with django-rq.
    assert run(project, "queue_emails").stdout.strip() == "queued"
    queues = stats(project, "-j")
    assert {name: queue["jobs"] for name, queue in queues.items()} == {"default": 2, "high": 1, "low": 1}
    assert [queues[name]["index"] for name in ("default", "high", "low")] == [0, 1, 2]
    port = urlsplit(settings.REDIS_URL).port
    assert {queue["connection_kwargs"]["port"] for queue in queues.values()} == {port}
    assert "password" not in json.dumps(queues)

    # 4. rqsuspend -d: a worker started meanwhile takes no job; rqresume, and the workers run.
    run(project, "rqsuspend", "-d", "60")
    assert redis_client.ttl(suspended_key()) > 0
    run(project, "rqworker", "high", "default", "low", "--burst")
    assert ran(redis_client) == []
    run(project, "rqresume")
    run(project, "rqworker", "high", "default", "low", "--burst")  # the systemd unit's queues
    assert ran(redis_client) == ["high-1", "default-1", "default-2", "low-1"]
    queues = stats(project, "--json")
    assert {name: (queue["jobs"], queue["finished_jobs"]) for name, queue in queues.items()} == {
        "default": (0, 2),
        "high": (0, 1),
        "low": (0, 1),
    }
    from_yaml = yaml.safe_load(run(project, "rqstats", "-y").stdout)
    assert {queue["name"]: queue["finished_jobs"] for queue in from_yaml["queues"]} == {
        "default": 2,
        "high": 1,
        "low": 1,
    }

    # 5. rqenqueue with django-rq's flags.
    job_id = run(project, "rqenqueue", "-q", "low", "-t", "30", "shop.jobs.plain", "low-2").stdout.strip()
    job = Job.fetch(job_id, connection=redis_client)
    assert (job.origin, job.timeout, job.args) == ("low", 30, ["low-2"])

    # 6. stats.json and metrics at django-rq's URLs, with the bearer token.
    probe = (
        "from django.test import Client; import json, os; "
        "c = Client(headers={'authorization': 'Bearer ' + os.environ['DROPIN_TOKEN']}); "
        "s = c.get('/django-rq/stats.json'); m = c.get('/django-rq/metrics/'); "
        "print(json.dumps([s.status_code, s.json(), m.status_code, m.content.decode()]))"
    )
    status, document, metrics_status, metrics = json.loads(
        run(project, "shell", "-v", "0", "-c", probe, DROPIN_TOKEN=TOKEN).stdout
    )
    assert (status, metrics_status) == (200, 200)
    by_name = {queue["name"]: queue for queue in document["queues"]}
    assert (by_name["low"]["jobs"], by_name["low"]["finished_jobs"], by_name["low"]["failed_jobs"]) == (
        1,
        1,
        0,
    )
    assert re.search(r'^rq_jobs\{queue="low",status="queued"\} 1\.0$', metrics, re.MULTILINE), metrics

    # 7. rqcron with django-rq's config module, until SIGTERM.
    with background("rqcron", "cron_config.py", settings="proj.settings", PYTHONPATH=str(project)) as process:
        default = get_queue("default")
        wait_for(lambda: [list(job.args) for job in default.get_jobs()] == [["cron"]], timeout=60,
                 what="the cron job enqueued")  # fmt: skip
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0

    # 8. rqworker-pool with django-rq's flags runs it.
    run(project, "rqworker-pool", "default", "low", "--num-workers", "2", "--burst")
    assert {"cron", "low-2"} <= set(ran(redis_client))
