"""The Schedule change form in a real headless Chromium: validation, the next runs, "Run now", view-only.

Screenshots go to ``test-artifacts/`` (git-ignored), as for the dashboard's browser tests.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission, User

from django_taskq.models import Schedule
from tests.dashboard_helpers import PASSWORD, rq_queue
from tests.test_dashboard_browser import ARTIFACTS, browser, login  # noqa: F401  (browser: a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def schedule_user(username: str, *codenames: str) -> None:
    user = User.objects.create_user(username, f"{username}@example.com", PASSWORD, is_staff=True)
    for codename in codenames:
        user.user_permissions.add(
            Permission.objects.get(codename=codename, content_type__app_label="django_taskq")
        )


def test_editor_adds_a_schedule_sees_its_runs_and_runs_it(browser: Any, live_server: Any) -> None:  # noqa: F811
    schedule_user("editor", "view_schedule", "add_schedule", "change_schedule")
    base = live_server.url
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    login(page, base, "editor")

    page.click("a[href='/admin/django_taskq/schedule/']")
    page.click("a.addlink")
    page.fill("#id_name", "weekday report")
    page.fill("#id_func", "tests.testapp.jobs.add")
    page.fill("#id_args", "[1]")
    page.fill("#id_cron", "61 9 * * 1-5")
    page.fill("#id_time_zone", "Europe/Paris")
    page.select_option("#id_queue", "high")
    page.click("input[name=_continue]")

    # Two mistakes, two field errors; nothing saved.
    page.wait_for_selector(".errornote")
    errors = page.locator("ul.errorlist").all_inner_texts()
    assert any("The minute field '61' is not valid" in text for text in errors), errors
    assert any("missing a required argument: 'b'" in text for text in errors), errors
    page.screenshot(path=str(ARTIFACTS / "schedule-errors.png"), full_page=True)
    assert not Schedule.objects.exists()

    page.fill("#id_args", "[1, 2]")
    page.fill("#id_cron", "0 9 * * 1-5")
    page.click("input[name=_continue]")
    page.wait_for_selector("ol.taskq-upcoming")
    runs = page.locator("ol.taskq-upcoming li").all_inner_texts()
    assert len(runs) == 5 and all(" 09:00:00 CE" in run for run in runs), runs
    page.screenshot(path=str(ARTIFACTS / "schedule-change.png"), full_page=True)
    row = Schedule.objects.get()
    assert (row.cron, row.queue, row.args) == ("0 9 * * 1-5", "high", [1, 2])

    page.click("#taskq-run-now")
    page.wait_for_selector("ul.messagelist")
    [job_id] = rq_queue("high").job_ids
    assert f"job {job_id} enqueued on queue high" in page.locator("ul.messagelist").inner_text()

    # The changelist links the last job to the dashboard's job page.
    page.goto(f"{base}/admin/django_taskq/schedule/")
    link = page.locator(f"a[title='{job_id}']")
    assert link.get_attribute("href") == f"/admin/django_taskq/queue/queues/high/job/{job_id}/"
    page.screenshot(path=str(ARTIFACTS / "schedule-changelist.png"), full_page=True)


def test_viewer_sees_the_form_without_buttons(browser: Any, live_server: Any) -> None:  # noqa: F811
    row = Schedule.objects.create(
        name="every minute", func="tests.testapp.jobs.add", args=[1, 2], interval=60
    )
    schedule_user("viewer", "view_schedule")
    base = live_server.url
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, color_scheme="dark")
    login(page, base, "viewer")
    page.goto(f"{base}/admin/django_taskq/schedule/{row.pk}/change/")
    page.wait_for_selector("ol.taskq-upcoming")
    assert page.locator("ol.taskq-upcoming li").count() == 5
    assert page.locator("#taskq-run-now").count() == 0
    assert page.locator("input[type=submit]").count() == 0
    page.goto(f"{base}/admin/django_taskq/schedule/")
    assert page.locator("select[name=action]").count() == 0
