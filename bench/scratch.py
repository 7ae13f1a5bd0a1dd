"""Helpers the benchmarks share: a scratch PostgreSQL database and raw SQL on Django's connection."""

from __future__ import annotations

import sys
from urllib.parse import urlparse


def scratch_url(url: str, suffix: str) -> tuple[str, str, str]:
    """(admin url, scratch url, scratch name ``<name>_<suffix>``) on the PostgreSQL server of ``url``."""
    parts = urlparse(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        sys.exit("This benchmark needs PostgreSQL: set DATABASE_URL=postgres://user@host:5432/name")
    name = f"{parts.path.lstrip('/')}_{suffix}"
    return parts._replace(path="/postgres").geturl(), parts._replace(path=f"/{name}").geturl(), name


def recreate_database(admin_url: str, name: str, *, drop_only: bool = False) -> None:
    """Drop ``name`` (disconnecting its sessions) and, unless ``drop_only``, create it empty.

    Connects to the server's ``postgres`` maintenance database: the database ``admin_url`` names
    need not exist (``DATABASE_URL=…/accord`` on a machine that never ran the app)."""
    import psycopg2

    base, _, _name = admin_url.partition("?")[0].rpartition("/")
    conn = psycopg2.connect(f"{base}/postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()


def sql(statement: str, params=None) -> list[tuple]:
    """Run one statement on Django's default connection; rows when it returns any."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []
