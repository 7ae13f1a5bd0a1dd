from django.apps import AppConfig


class SlaConfig(AppConfig):
    name = "sla"
    verbose_name = "SLA"

    def ready(self) -> None:
        from alignment.signals import agreement_published
        from sla.handlers import recompute_due_times_on_publish

        agreement_published.connect(recompute_due_times_on_publish, dispatch_uid="sla-recompute-due-times")
