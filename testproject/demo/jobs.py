"""Jobs like the ones tutorials write."""

import random
import time

from django.core.mail import send_mail

from django_taskq import job


@job("high")
def sum_digits(text: str) -> int:
    """Sum the digits found in a string."""
    return sum(int(char) for char in text if char.isdigit())


@job("low", timeout=30)
def flaky_report(seconds: float = 2.0) -> str:
    """A slow job that fails one time in five."""
    time.sleep(seconds)
    if random.random() < 0.2:
        raise RuntimeError("the report generator hiccuped (this happens 20% of the time)")
    return f"report ready after {seconds:.1f}s"


@job
def send_welcome_email(address: str) -> int:
    """Send a welcome email (printed to the console by the demo's email backend)."""
    return send_mail("Welcome!", "Thanks for trying django-taskq.", "demo@example.com", [address])


def heartbeat() -> str:
    """Run by the worker's cron thread (RQ_CRON) every 30 seconds."""
    return f"alive at {time.strftime('%H:%M:%S')}"


def tidy_up() -> str:
    """Run every five minutes (a cron string in RQ_CRON, read in TIME_ZONE)."""
    return "nothing to tidy in the demo"
