"""End to end in a real headless Chromium (Debian's ``chromium``), driven by Playwright.

Screenshots of the main pages are written to ``test-artifacts/`` (git-ignored).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import django
import pytest
from rq import Worker

from django_taskq import get_connection
from django_taskq.counters import record
from tests.dashboard_helpers import PASSWORD, jobs_in_every_state, make_user, rq_queue, run_burst
from tests.testapp.jobs import add, fail

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch, processes: None) -> Iterator[Any]:
    """Chromium, driven by Playwright (two processes of their own: the slow lane)."""
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium).")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls of the test are fine.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield launched
        finally:
            launched.close()


def populate() -> dict[str, Any]:
    """A realistic-looking set of queues, jobs, a worker and an hour of counters."""
    jobs = jobs_in_every_state()
    queue = rq_queue()
    for index in range(6):
        queue.enqueue(fail, f"payment gateway timed out (attempt {index})", description=None)
    for index in range(12):
        queue.enqueue(add, index, index * 2)
    run_burst(queue)
    for index in range(40):
        queue.enqueue(add, index, 1)
    high = rq_queue("high")
    for index in range(7):
        high.enqueue(add, index, 100)
    worker = Worker([queue, high], connection=get_connection(), name="web-1.worker-1")
    worker.register_birth()
    worker.set_state("busy")
    client = get_connection()
    now = time.time()
    for minute in range(60):
        for _ in range((minute * 7) % 11 + 3):
            record(client, "default", "finished", 0.2, now=now - minute * 60)
        if minute % 9 == 2:
            record(client, "default", "failed", 0.2, now=now - minute * 60)
    return {"jobs": jobs, "failed_ids": queue.failed_job_registry.get_job_ids(cleanup=False)}


def login(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}/admin/")


def test_manager_requeues_and_bulk_deletes(browser: Any, live_server: Any) -> None:
    data = populate()
    make_user("manager")
    base = live_server.url
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    login(page, base, "manager")

    # The admin index links to the dashboard; the overview lists the queues.
    page.click("a[href='/admin/django_taskq/queue/']")
    page.wait_for_selector("text=Jobs per minute, last hour")
    assert page.locator("table.taskq-table >> text=default").count() >= 1
    assert page.locator("table.taskq-table >> text=other-db").count() == 1
    page.screenshot(path=str(ARTIFACTS / "dashboard-overview.png"), full_page=True)

    # Open a failed job and requeue it.
    page.click("a[href='/admin/django_taskq/queue/queues/default/failed/']")
    page.wait_for_selector("#result_list")
    page.screenshot(path=str(ARTIFACTS / "dashboard-failed.png"), full_page=True)
    failed_id = data["jobs"].failed.id
    page.click(f"a[href='/admin/django_taskq/queue/queues/default/job/{failed_id}/']")
    page.wait_for_selector("text=Traceback")
    page.screenshot(path=str(ARTIFACTS / "dashboard-job.png"), full_page=True)
    page.click("button[value=requeue]")
    page.wait_for_selector("text=1 job requeued.")
    assert failed_id in rq_queue().job_ids

    # Select two failed jobs and delete them, through the confirmation page.
    page.goto(f"{base}/admin/django_taskq/queue/queues/default/failed/")
    boxes = page.locator("input.action-select")
    chosen = [boxes.nth(0).get_attribute("value"), boxes.nth(1).get_attribute("value")]
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.click("#taskq-selection button[value=delete]")
    page.wait_for_selector("#taskq-confirm")
    page.screenshot(path=str(ARTIFACTS / "dashboard-confirm.png"), full_page=True)
    page.click("#taskq-confirm")
    page.wait_for_selector("text=2 jobs deleted.")
    left = rq_queue().failed_job_registry.get_job_ids(cleanup=False)
    assert not set(chosen) & set(left) and len(left) == len(data["failed_ids"]) - 3

    # Select-all checks every box of the page.
    page.goto(f"{base}/admin/django_taskq/queue/queues/default/queued/?per_page=10")
    page.check("#taskq-select-all")
    assert page.locator("input.action-select:checked").count() == 10

    page.goto(f"{base}/admin/django_taskq/queue/workers/")
    page.wait_for_selector("text=web-1.worker-1")
    page.screenshot(path=str(ARTIFACTS / "dashboard-workers.png"), full_page=True)
    page.goto(f"{base}/admin/django_taskq/queue/queues/default/queued/")
    page.screenshot(path=str(ARTIFACTS / "dashboard-queued.png"), full_page=True)


def test_viewer_sees_no_action_buttons(browser: Any, live_server: Any) -> None:
    data = populate()
    make_user("viewer")
    base = live_server.url
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, color_scheme="dark")
    login(page, base, "viewer")
    page.goto(f"{base}/django-rq/")
    page.wait_for_selector("text=Jobs per minute, last hour")
    page.screenshot(path=str(ARTIFACTS / "dashboard-overview-dark.png"), full_page=True)
    for path in (
        "queues/default/failed/",
        f"queues/default/job/{data['jobs'].failed.id}/",
        "queues/default/",
    ):
        page.goto(f"{base}/django-rq/{path}")
        page.wait_for_selector("h1.taskq-title")
        assert page.locator("button[name=action]").count() == 0, path
        assert page.locator("input.action-select").count() == 0, path
    page.goto(f"{base}/django-rq/queues/default/job/{data['jobs'].failed.id}/")
    page.screenshot(path=str(ARTIFACTS / "dashboard-job-dark.png"), full_page=True)


def test_breadcrumbs_are_styled_by_the_admin(browser: Any, live_server: Any) -> None:
    """On the running Django (5.2 and 6.0: <div>, 6.1: <ol>), the admin's CSS styles our
    breadcrumbs as its own: its colours, its padding, a visible separator between crumbs."""
    jobs = jobs_in_every_state()
    make_user("viewer")
    base = live_server.url
    page = browser.new_page(viewport={"width": 1200, "height": 700})
    login(page, base, "viewer")
    # The admin's breadcrumb colours, as its CSS variables resolve on this page.
    probe = """() => {
        const probe = document.createElement('div');
        probe.style.background = 'var(--breadcrumbs-bg)';
        probe.style.color = 'var(--breadcrumbs-link-fg)';
        document.body.append(probe);
        const style = getComputedStyle(probe);
        const colours = [style.backgroundColor, style.color];
        probe.remove();
        return colours;
    }"""
    for path in (
        "/django-rq/",
        f"/django-rq/queues/default/job/{jobs.failed.id}/",
        "/admin/django_taskq/queue/queues/default/failed/",
        "/django-rq/workers/",
        "/django-rq/cron/",
    ):
        page.goto(base + path)
        crumbs = page.locator("nav[aria-label=Breadcrumbs] .breadcrumbs")
        assert crumbs.count() == 1, path
        background, link_colour = page.evaluate(probe)
        assert background not in ("", "rgba(0, 0, 0, 0)"), "the admin defines --breadcrumbs-bg"
        style = crumbs.evaluate(
            """element => {
                const style = getComputedStyle(element);
                const link = getComputedStyle(element.querySelector('a'));
                const first = element.tagName === 'OL' ? element.querySelector('li') : null;
                return {
                    tag: element.tagName,
                    background: style.backgroundColor,
                    padding: style.paddingLeft,
                    link: link.color,
                    text: element.innerText,
                    after: first ? getComputedStyle(first, '::after').content : '',
                    listStyle: first ? getComputedStyle(first).display : '',
                };
            }"""
        )
        assert style["background"] == background, (path, style)
        assert style["padding"] == "40px" and style["link"] == link_colour, (path, style)
        assert style["text"].startswith("Home") and "Queues" in style["text"], style
        if style["tag"] == "OL":  # Django 6.1: inline items, the separator drawn after each
            assert style["listStyle"] == "inline-block" and "\u203a" in style["after"], style
        else:  # Django 5.2, 6.0: &rsaquo; in the text
            assert style["tag"] == "DIV" and "\u203a" in style["text"], style
    page.goto(f"{base}/django-rq/queues/default/job/{jobs.failed.id}/")
    version = ".".join(map(str, django.VERSION[:2]))
    page.locator("nav[aria-label=Breadcrumbs]").screenshot(
        path=str(ARTIFACTS / f"breadcrumbs-django-{version}.png")
    )
