"""Accord settings: one file, everything that varies between machines comes from the environment.

Embedded default (no variables set): DEBUG on, SQLite file, Celery runs tasks eagerly. ``make run``
turns DEBUG off (styled error pages) and serves over plain HTTP on this machine (SERVE_OVER_HTTP).
Production: DEBUG=0 requires SECRET_KEY and ALLOWED_HOSTS and turns on the secure-cookie,
HSTS and SSL settings so that ``manage.py check --deploy`` is clean.
"""

from __future__ import annotations

import os
import zoneinfo
from pathlib import Path

import dj_database_url
import dj_email_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean: use 1/0, true/false, yes/no or on/off.")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def database_from_url(url: str) -> dict:
    """Parse DATABASE_URL, refusing anything Accord does not run on with a message a person can act on."""
    try:
        config = dj_database_url.parse(url, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))
    except (ValueError, KeyError) as exc:
        raise ImproperlyConfigured(
            f"DATABASE_URL={url!r} is not a database URL ({exc}). "
            "Use postgres://user:password@host:5432/name or sqlite:///path/to/file.sqlite3."
        ) from None
    engine = config.get("ENGINE", "")
    if engine not in ("django.db.backends.postgresql", "django.db.backends.sqlite3"):
        raise ImproperlyConfigured(
            f"DATABASE_URL={url!r} names an unsupported database ({engine or 'unknown'}). "
            "Accord runs on PostgreSQL (postgres://…) or SQLite (sqlite:///…)."
        )
    if engine.endswith("postgresql") and not config.get("NAME"):
        raise ImproperlyConfigured(f"DATABASE_URL={url!r} has no database name after the host.")
    if engine.endswith("sqlite3"):
        config["CONN_MAX_AGE"] = 0
        # Several writers (web + eager tasks) share one file: wait instead of failing on a lock.
        config.setdefault("OPTIONS", {})["timeout"] = 20
    return config


def email_from_url(url: str) -> dict:
    try:
        config = dj_email_url.parse(url)
    except Exception as exc:  # dj-email-url raises bare exceptions for unknown schemes
        raise ImproperlyConfigured(
            f"EMAIL_URL={url!r} is not an e-mail URL ({exc}). "
            "Use smtp://user:password@host:587/?tls=True, console:// or file:///path/to/dir."
        ) from None
    return config


DEBUG = env_bool("DEBUG", True)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off. Generate one with: "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    SECRET_KEY = "insecure-development-key-only-used-with-debug-on"  # noqa: S105 - DEBUG only

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must list the portal's host names when DEBUG is off.")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "crispy_forms",
    "crispy_bootstrap5",
    "django_htmx",
    "django_filters",
    "django_celery_beat",
    "simple_history",
    "portal",
    "alignment",
    "leads",
    "sla",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "portal.params.QueryStringMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "portal.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.navigation.navigation",
            ],
        },
    },
]

WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"

DATABASE_URL = os.environ.get("DATABASE_URL", "").strip() or f"sqlite:///{BASE_DIR / 'accord.sqlite3'}"
DATABASES = {"default": database_from_url(DATABASE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
try:
    zoneinfo.ZoneInfo(TIME_ZONE)
except (zoneinfo.ZoneInfoNotFoundError, ValueError):
    raise ImproperlyConfigured(f"TIME_ZONE={TIME_ZONE!r} is not an IANA time zone such as Europe/Berlin.") from None
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))
MEDIA_URL = "/media/"
# CSV imports and API batches: refuse oversized bodies before they reach a view.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 5 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# --- E-mail ---
EMAIL_URL = os.environ.get("EMAIL_URL", "").strip()
if EMAIL_URL:
    _email = email_from_url(EMAIL_URL)
    EMAIL_BACKEND = _email["EMAIL_BACKEND"]
    EMAIL_HOST = _email["EMAIL_HOST"]
    EMAIL_PORT = _email["EMAIL_PORT"]
    EMAIL_HOST_USER = _email["EMAIL_HOST_USER"]
    EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_PASSWORD"]
    EMAIL_USE_TLS = _email["EMAIL_USE_TLS"]
    EMAIL_USE_SSL = _email["EMAIL_USE_SSL"]
    if _email.get("EMAIL_FILE_PATH"):
        EMAIL_FILE_PATH = _email["EMAIL_FILE_PATH"]
elif DEBUG:
    # The demo keeps every message it sends as a file you can open.
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = BASE_DIR / "var" / "mail"
else:
    raise ImproperlyConfigured("EMAIL_URL must be set when DEBUG is off, e.g. smtp://user:password@host:587/?tls=True")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Accord <accord@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Celery ---
REDIS_URL = os.environ.get("REDIS_URL", "").strip()
if REDIS_URL and not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured(f"REDIS_URL={REDIS_URL!r} must start with redis://, rediss:// or unix://")
CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
CELERY_RESULT_BACKEND = None
# Eager unless a broker is configured; CELERY_EAGER=1 forces eager (the test suite, one-off scripts).
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_EAGER", not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 15 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 14 * 60
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# A rescoring chunk's lease (renewed every third of it while a worker runs the chunk) and the period
# of the sweeper that queues again what nobody holds: a chunk whose worker died is running again
# within lease + sweep period (90 s by default), and a rescore request left behind by a broker
# outage is taken within one sweep period of the broker's return.
ACCORD_RESCORE_LEASE_SECONDS = env_int("ACCORD_RESCORE_LEASE_SECONDS", 60)
ACCORD_RESCORE_SWEEP_SECONDS = env_int("ACCORD_RESCORE_SWEEP_SECONDS", 30)
# Synced into django-celery-beat's tables when beat starts (editable in the admin afterwards).
CELERY_BEAT_SCHEDULE = {
    "sla-check-breaches": {"task": "sla.tasks.check_breaches", "schedule": 300.0},
    # Pages never refresh the SLA figures themselves: this catches up set-based moves (rescoring, imports).
    "sla-refresh": {"task": "sla.tasks.refresh_sla", "schedule": 60.0},
    "sla-weekly-reports": {"task": "sla.tasks.weekly_reports_due", "schedule": 900.0},
    "leads-sweep-rescoring": {"task": "leads.tasks.sweep_rescoring", "schedule": float(ACCORD_RESCORE_SWEEP_SECONDS)},
    "leads-sweep-unscored": {"task": "leads.tasks.sweep_unscored", "schedule": 600.0},
    "leads-nightly-decay-rescore": {
        "task": "leads.tasks.rescore_aged",
        "schedule": crontab(hour=2, minute=30),
    },
}

# Shared cache (presence on the draft page, throttles): Redis when configured, else per-process memory.
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    # Sessions read from the shared cache, written through to the database (no query per request).
    # Only with Redis: a per-process cache would keep a logged-out session alive in other workers.
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Production hardening (check --deploy is clean when DEBUG is off) ---
# SERVE_OVER_HTTP=1: DEBUG off but served over plain HTTP on this machine (``make run``), where
# HTTPS-only cookies and redirects would lock everyone out; never set it behind a public host name.
SERVE_OVER_HTTP = env_bool("SERVE_OVER_HTTP", False)
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not SERVE_OVER_HTTP)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if SERVE_OVER_HTTP else 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = not SERVE_OVER_HTTP
    SECURE_HSTS_PRELOAD = not SERVE_OVER_HTTP
    SESSION_COOKIE_SECURE = not SERVE_OVER_HTTP
    CSRF_COOKIE_SECURE = not SERVE_OVER_HTTP
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"
    SECURE_REFERRER_POLICY = "same-origin"
    # /healthz is polled by load balancers over plain HTTP inside the network.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Accord ---
# Rescoring splits the lead id range into chunks of this many ids (one Celery task each).
ACCORD_RESCORE_CHUNK = env_int("ACCORD_RESCORE_CHUNK", 50_000)
ACCORD_SITE_URL = os.environ.get("ACCORD_SITE_URL", "http://127.0.0.1:8000")
