from django.apps import AppConfig


class SlaConfig(AppConfig):
    name = "sla"
    verbose_name = "SLA"

    def ready(self) -> None:
        # Due times of open MQLs are not re-timed here after a publish: the leads rescore does that once
        # all of its chunks have finished (``leads.scoring.rescoring.rescore_job_finish``).
        from django.db.models.signals import post_save

        from alignment.signals import agreement_published
        from leads.inbox.routing import mqls_routed
        from portal.notifications import notification_requested
        from sla.handlers import check_backlog, deliver_notifications, refresh_after_move, refresh_after_publish

        post_save.connect(refresh_after_move, sender="leads.Transition", dispatch_uid="sla.refresh_after_move")
        agreement_published.connect(refresh_after_publish, dispatch_uid="sla.refresh_after_publish")
        notification_requested.connect(deliver_notifications, dispatch_uid="sla.deliver_notifications")
        mqls_routed.connect(check_backlog, dispatch_uid="sla.check_backlog")
