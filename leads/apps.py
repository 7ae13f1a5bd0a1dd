from django.apps import AppConfig


class LeadsConfig(AppConfig):
    name = "leads"
    verbose_name = "Leads"

    def ready(self) -> None:
        from alignment.signals import agreement_published
        from leads import tasks  # noqa: F401 - registers the tasks that services queue by name
        from leads.handlers import queue_rescore_on_publish

        agreement_published.connect(queue_rescore_on_publish, dispatch_uid="leads.rescore_on_publish")
