"""Settings come from the environment and fail with a message a person can act on."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "a-long-random-production-secret-key-for-the-test-0123456789abcdefghij",
    "ALLOWED_HOSTS": "accord.example.com",
    "EMAIL_URL": "smtp://mailer:secret@smtp.example.com:587/?tls=True",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
    "REDIS_URL": "redis://127.0.0.1:6379/15",
}


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    # The browser tests set DJANGO_ALLOW_ASYNC_UNSAFE in this process; a real deployment never has it.
    blocked = {*PRODUCTION, "CELERY_EAGER", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    clean = {k: v for k, v in os.environ.items() if k not in blocked}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        env={**clean, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_without_secret_key_refuses_to_start():
    env = {**PRODUCTION}
    del env["SECRET_KEY"]
    result = run_manage("check", **env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_bad_database_url_names_the_variable_and_the_expected_form():
    result = run_manage("check", DATABASE_URL="mysql://root@localhost/accord")
    assert result.returncode != 0
    assert "DATABASE_URL='mysql://root@localhost/accord' names an unsupported database" in result.stderr
    assert "postgres://" in result.stderr


def test_garbage_database_url_is_refused_clearly():
    result = run_manage("check", DATABASE_URL="not a url")
    assert result.returncode != 0
    assert "DATABASE_URL='not a url'" in result.stderr


def test_bad_boolean_and_time_zone_are_refused():
    assert "DEBUG='maybe' is not a boolean" in run_manage("check", DEBUG="maybe").stderr
    assert "TIME_ZONE='Mars/Olympus' is not an IANA time zone" in run_manage("check", TIME_ZONE="Mars/Olympus").stderr


def test_production_settings_pass_check_deploy_without_warnings():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_without_redis_url_celery_runs_eagerly():
    script = "import django; django.setup(); from portal.celery import app; print(app.conf.task_always_eager)"
    clean = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "CELERY_EAGER"}}
    out = subprocess.run(
        [sys.executable, "-c", script],
        env={**clean, "DJANGO_SETTINGS_MODULE": "portal.settings"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "True"


def test_production_collectstatic_post_processes_every_vendor_file(tmp_path):
    result = run_manage("collectstatic", "--noinput", STATIC_ROOT=str(tmp_path), **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "staticfiles.json").exists()
    assert list((tmp_path / "vendor" / "chartjs").glob("chart.umd.min.*.js"))


def test_make_run_serves_with_debug_off_and_starts_the_scheduler_without_redis():
    dry_run = subprocess.run(
        ["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    ).stdout
    runserver = next(line for line in dry_run.splitlines() if "manage.py runserver" in line)
    assert "DEBUG=0 " in runserver and "SERVE_OVER_HTTP=1" in runserver
    assert "manage.py run_schedule" in dry_run


def test_debug_off_over_plain_http_shows_the_styled_404_and_keeps_plain_cookies(tmp_path):
    local = {
        "DEBUG": "0",
        "SERVE_OVER_HTTP": "1",
        "SECRET_KEY": PRODUCTION["SECRET_KEY"],
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "EMAIL_URL": f"file://{tmp_path}/mail",
        "STATIC_ROOT": str(tmp_path / "static"),
    }
    assert run_manage("collectstatic", "--noinput", "-v", "0", **local).returncode == 0
    script = (
        "from django.conf import settings; from django.test import Client;"
        "r = Client().get('/no-such-page/');"
        "print(r.status_code, settings.SESSION_COOKIE_SECURE, settings.SECURE_SSL_REDIRECT);"
        "print(r.content.decode())"
    )
    result = run_manage("shell", "--no-imports", "-c", script, **local)
    assert result.returncode == 0, result.stderr
    first, page = result.stdout.split("\n", 1)
    assert first == "404 False False"
    assert "URLconf" not in page and "Page not found" in page
