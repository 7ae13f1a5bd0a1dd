from django.apps import AppConfig


class SlaConfig(AppConfig):
    name = "sla"
    verbose_name = "SLA"

    def ready(self) -> None:
        # No receiver of ``agreement_published`` here: the leads rescore re-times open MQLs once all of
        # its chunks have finished (``leads.scoring.rescoring.rescore_job_finish``), with their final grades.
        from django.db.models.signals import post_save

        from sla.handlers import refresh_after_move

        post_save.connect(refresh_after_move, sender="leads.Transition", dispatch_uid="sla.refresh_after_move")
