"""Role fixtures (marketing, sales, sdr, manager, admin, outsider) and shared helpers."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.conf import settings
from django.test import Client

from portal.access import Role
from tests.factories import TeamFactory, TeamMemberFactory, UserFactory
from tests.lifecycle_check import stage_log_mismatches

# Suites whose code under test moves leads (SDR actions, rescoring, intake, the demo): after each
# of their database tests, every lead's stage must be its log's latest move (True: and every
# lead has a log).
LIFECYCLE_SUITES = {
    "tests.leads.test_actions": False,
    "tests.leads.test_actions_concurrency": False,
    "tests.leads.test_rescoring": False,
    "tests.leads.test_rescore_jobs": False,
    "tests.leads.test_rescore_worker": False,
    "tests.leads.test_import": False,
    "tests.leads.test_import_bulk": False,
    "tests.leads.test_api": False,
    "tests.leads.test_lifecycle": False,
    # Only the generator creates leads here: each one must have its log.
    "tests.demo.test_seed_demo": True,
    "tests.demo.test_seed_demo_determinism": True,
}
_DB_FIXTURES = {"db", "transactional_db", "live_server", "django_db_reset_sequences"}


def _uses_db(request) -> bool:
    return bool(request.node.get_closest_marker("django_db") or _DB_FIXTURES & set(request.fixturenames))


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
def landing_origin(db):
    """A custom choice attribute whose stored values and labels differ ("landing_page" reads
    "Landing Page Submission"): rules, panels and texts must show the labels."""
    from alignment import dictionary_services

    return dictionary_services.attribute_create(
        key="lead_origin",
        label="Lead origin",
        type="choice",
        choices=[
            {"value": "landing_page", "label": "Landing Page Submission"},
            {"value": "api", "label": "API"},
            {"value": "referral", "label": "Referral"},
        ],
    )


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
    if not _uses_db(request):
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


@pytest.fixture(autouse=True)
def _stage_follows_the_log(request):
    """After a test of a suite that moves leads: ``Lead.stage`` = latest ``Transition.to_stage``."""
    if request.module.__name__ not in LIFECYCLE_SUITES or not _uses_db(request):
        yield
        return
    # Set up the test's database first, so that this check runs before it is rolled back or flushed.
    request.getfixturevalue("_django_db_helper")
    yield
    with request.getfixturevalue("django_db_blocker").unblock():
        every_lead_logged = LIFECYCLE_SUITES[request.module.__name__]
        assert stage_log_mismatches(every_lead_logged=every_lead_logged) == [], "Lead.stage is not its log's latest"
