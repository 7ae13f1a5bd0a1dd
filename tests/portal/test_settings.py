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
