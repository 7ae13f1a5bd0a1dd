"""Role fixtures (marketing, sales, sdr, manager, admin, outsider) and shared helpers."""

from __future__ import annotations

import pytest
from django.test import Client

from portal.access import Role
from tests.factories import TeamFactory, TeamMemberFactory, UserFactory


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
