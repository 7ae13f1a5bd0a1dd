"""The Celery app. Without REDIS_URL tasks run eagerly inside the web process (embedded default)."""

import os

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("accord")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def load_urlconf(**kwargs) -> None:
    """Import the URL configuration, and with it every view module, once in the worker's main
    process before it forks its pool: the first task of each pool process that builds a link (a
    notification, the backlog check at the end of a rescore) otherwise spends ~2 s importing them."""
    import django
    from django.apps import apps
    from django.urls import get_resolver

    if not apps.ready:
        django.setup()
    get_resolver().reverse_dict  # noqa: B018 - populates the resolver (and imports the views)
