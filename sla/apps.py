from django.apps import AppConfig


class SlaConfig(AppConfig):
    name = "sla"
    verbose_name = "SLA"
    # No receiver of ``agreement_published`` here: the leads rescore re-times open MQLs once all of
    # its chunks have finished (``leads.scoring.rescoring.rescore_job_finish``), with their final grades.

    def ready(self) -> None:
        from portal.notifications import notification_requested
        from sla.notifications import on_notification_requested

        notification_requested.connect(on_notification_requested, dispatch_uid="sla.deliver_notifications")
