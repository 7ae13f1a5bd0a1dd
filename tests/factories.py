"""Factories for the domain: every test builds exactly the rows it needs."""

from __future__ import annotations

import datetime as dt

import factory
from django.contrib.auth.models import Group, User
from django.utils import timezone

from alignment.models import AgreementVersion, Persona
from alignment.spec import default_spec
from leads.models import Account, Activity, Lead, Stage, Team, TeamMember, Transition


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.PostGenerationMethodCall("set_password", "accord-demo")

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        for name in extracted or ():
            self.groups.add(Group.objects.get_or_create(name=name)[0])
        if create:
            self.save()


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("name",)

    name = "Inside Sales"
    time_zone = "Europe/London"


class TeamMemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TeamMember

    team = factory.SubFactory(TeamFactory)
    user = factory.SubFactory(UserFactory)


class PersonaFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Persona

    name = factory.Sequence(lambda n: f"Persona {n}")
    summary = "Runs demand generation at a mid-size software company."
    title_keywords = ["marketing"]
    seniorities = ["director", "vp"]
    departments = ["marketing"]


class AgreementVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AgreementVersion

    number = factory.Sequence(lambda n: n + 1)
    status = AgreementVersion.Status.ACTIVE
    spec = factory.LazyFunction(default_spec)
    published_at = factory.LazyFunction(timezone.now)


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account
        django_get_or_create = ("domain",)

    domain = factory.Sequence(lambda n: f"company{n}.example")
    name = factory.Sequence(lambda n: f"Company {n}")
    industry = "Software"
    employees = 800
    annual_revenue = 120_000_000
    country = "GB"
    region = "EMEA"


class LeadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lead

    account = factory.SubFactory(AccountFactory)
    email = factory.Sequence(lambda n: f"lead{n}@company.example")
    email_domain = factory.LazyAttribute(lambda o: o.email.split("@")[1].lower())
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    job_title = "Marketing Director"
    seniority = "director"
    department = "marketing"
    source = "website"
    stage = Stage.NEW


class ActivityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Activity

    lead = factory.SubFactory(LeadFactory)
    kind = "web_visit"
    occurred_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=1))


class TransitionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Transition

    lead = factory.SubFactory(LeadFactory)
    from_stage = ""
    to_stage = Stage.NEW
    at = factory.LazyFunction(timezone.now)


class MqlFactory(LeadFactory):
    """An open MQL as scoring leaves it (inbox tests): scored, graded, SLA clock running."""

    class Meta:
        skip_postgeneration_save = True

    stage = Stage.MQL
    fit_score = 45
    engagement_score = 30
    grade = "A"
    completeness = 86
    mql_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(hours=1))
    sla_due_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(hours=3))

    @factory.post_generation
    def entered(self, create, extracted, **kwargs):
        """Writes the lead's transition into ``mql`` (Lead.stage = latest transition's to_stage)."""
        if create:
            Transition.objects.create(lead=self, from_stage=Stage.NEW, to_stage=Stage.MQL, at=self.mql_at)
