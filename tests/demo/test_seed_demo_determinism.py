"""The same seed and anchor give the same organisation; another seed gives another."""

from io import StringIO

import pytest
from django.core.management import call_command

from tests.demo.test_seed_demo import ANCHOR, snapshot


@pytest.mark.django_db(transaction=True)
def test_same_seed_gives_the_same_data():
    args = ("seed_demo", "--leads", "800", "--weeks", "6", "--seed", "11", "--anchor", ANCHOR)
    call_command(*args, stdout=StringIO())
    first = snapshot()
    call_command(*args, "--reset", stdout=StringIO())
    assert snapshot() == first
    call_command("seed_demo", "--leads", "800", "--weeks", "6", "--seed", "12", "--anchor", ANCHOR, "--reset")
    assert snapshot() != first
