"""Role fixtures (marketing, sales, sdr, manager, admin, outsider) and shared helpers."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.conf import settings
from django.test import Client

from portal.access import Role
from tests.factories import TeamFactory, TeamMemberFactory, UserFactory


def pytest_configure(config):
    # Tests log in hundreds of users: a fast hasher keeps the suite quick (production keeps PBKDF2).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def team(db):
    return TeamFactory()


@pytest.fixture
def marketing(db):
    return UserFactory(username="marketing", roles=[Role.MARKETING])


@pytest.fixture
def sales(db):
    return UserFactory(username="sales", roles=[Role.SALES])


@pytest.fixture
def manager(db, team):
    user = UserFactory(username="manager", roles=[Role.MANAGER])
    team.manager = user
    team.save(update_fields=["manager"])
    return user


@pytest.fixture
def sdr(db, team):
    user = UserFactory(username="sdr1", roles=[Role.SDR])
    TeamMemberFactory(team=team, user=user)
    return user


@pytest.fixture
def sdr2(db, team):
    user = UserFactory(username="sdr2", roles=[Role.SDR])
    TeamMemberFactory(team=team, user=user)
    return user


@pytest.fixture
def admin_user(db):
    return UserFactory(username="admin", roles=[Role.ADMIN], is_staff=True, is_superuser=True)


@pytest.fixture
def outsider(db):
    """Logged in, but holds no role."""
    return UserFactory(username="outsider")


@pytest.fixture
def login():
    """login(user) → a Client logged in as that user."""

    def _login(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return _login


@pytest.fixture(autouse=True)
def _role_groups_exist(request):
    """Transactional tests (real threads, live server) flush every table after they run, the role
    groups and the data dictionary data migrations created included; put them back so every
    database test finds them."""
    db_fixtures = {"db", "transactional_db", "live_server", "django_db_reset_sequences"}
    if not (request.node.get_closest_marker("django_db") or db_fixtures & set(request.fixturenames)):
        return
    from django.contrib.auth.models import Group

    request.getfixturevalue("django_db_setup")
    with request.getfixturevalue("django_db_blocker").unblock():
        names = {role.value for role in Role}
        missing = names - set(Group.objects.filter(name__in=names).values_list("name", flat=True))
        Group.objects.bulk_create([Group(name=name) for name in missing])
        # The data dictionary's built-ins, seeded by a data migration too.
        from alignment.dictionary import seed_builtins
        from alignment.models import Attribute

        if not Attribute.objects.filter(builtin=True).exists():
            seed_builtins(lambda name: apps.get_model("alignment", name))
