from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo organisation generator: sits above every other app and is imported by none."""

    name = "demo"
    default_auto_field = "django.db.models.BigAutoField"
