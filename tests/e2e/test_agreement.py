"""Marketing and sales leaders co-author a draft in two browsers, resolve a conflict, comment, sign, publish."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core.cache import cache
from django.utils import timezone
from playwright.sync_api import expect

from alignment.models import AgreementVersion
from leads.models import Stage
from portal.access import Role
from tests.factories import (
    ActivityFactory,
    AgreementVersionFactory,
    LeadFactory,
    TeamFactory,
    TransitionFactory,
    UserFactory,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def organisation(db):
    cache.clear()  # presence and cached backtests from an earlier run of a recreated database
    TeamFactory()
    maya = UserFactory(username="maya", first_name="Maya", last_name="Fischer", roles=[Role.MARKETING])
    sam = UserFactory(username="sam", first_name="Sam", last_name="Okafor", roles=[Role.SALES])
    AgreementVersionFactory(number=1, title="First agreement")
    now = timezone.now()
    # A little history for the Evidence panel: some leads that converted, some that were rejected.
    for i in range(12):
        lead = LeadFactory(created_at=now - dt.timedelta(days=5 + i * 6), email=f"buyer{i}@acme{i}.example")
        ActivityFactory(lead=lead, kind="pricing_page_visit", occurred_at=lead.created_at + dt.timedelta(days=1))
        if i % 3 == 0:
            ActivityFactory(lead=lead, kind="demo_request", occurred_at=lead.created_at + dt.timedelta(days=2))
        outcome = (Stage.SQL, Stage.REJECTED, Stage.SAL)[i % 3]
        TransitionFactory(lead=lead, to_stage=outcome, at=lead.created_at + dt.timedelta(days=3), reason_code="bad_fit")
    return maya, sam


def test_two_leaders_co_edit_resolve_a_conflict_comment_sign_and_publish(organisation, new_page, log_in, shot):
    maya = new_page()
    maya.on("dialog", lambda dialog: dialog.accept())
    sam = new_page()
    sam.on("dialog", lambda dialog: dialog.accept())

    # Maya lands on the agreement page and starts a draft.
    log_in(maya, "maya")
    expect(maya.locator("h1")).to_have_text("The agreement")
    shot(maya, "agreement-1-landing")
    maya.get_by_test_id("start-draft").click()
    maya.wait_for_url(re.compile(r"/agreement/v/2/edit/$"))
    # She raises the threshold and adds a behaviour rule without a page reload (htmx).
    maya.fill("input[name=mql_threshold]", "65")
    rows_before = maya.locator("#rows-beh .rule-row").count()
    maya.get_by_test_id("add-beh").click()
    expect(maya.locator("#rows-beh .rule-row")).to_have_count(rows_before + 1)
    new_row = maya.locator("#rows-beh .rule-row").last
    new_row.locator("select[name$='-kind']").select_option("form_fill")
    new_row.locator("input[name$='-points']").fill("12")
    shot(maya, "agreement-2-editor-maya")

    # Meanwhile Sam opens the same draft: he sees Maya there, edits the same threshold and a rule.
    log_in(sam, "sam")
    sam.get_by_test_id("open-draft").click()
    expect(sam.get_by_test_id("presence")).to_contain_text("Maya Fischer")
    sam.get_by_test_id("edit-draft").click()
    sam.fill("input[name=mql_threshold]", "70")
    sam.fill("input[name=fit-0-points]", "20")
    sam.get_by_test_id("save").click()
    expect(sam.locator("#messages")).to_contain_text("Saved revision 2")

    # Maya saves her (now stale) copy: the rule and the new behaviour merge, the threshold is a conflict.
    maya.get_by_test_id("save").click()
    expect(maya.locator("h1")).to_have_text("Choose what to keep")
    expect(maya.get_by_test_id("conflict-row")).to_have_count(1)
    expect(maya.get_by_test_id("conflict-row")).to_contain_text("MQL threshold")
    shot(maya, "agreement-3-conflict")
    maya.get_by_test_id("keep-mine").check()
    maya.get_by_test_id("save-choices").click()
    expect(maya.locator("#messages")).to_contain_text("Merged with the changes Sam Okafor saved")
    expect(maya.get_by_test_id("doc-threshold")).to_have_text("65")
    expect(maya.get_by_test_id("doc-fit")).to_contain_text("+20")
    expect(maya.get_by_test_id("doc-behaviour")).to_contain_text("Form fill")

    # Maya comments on the industry rule; Sam replies in the discussion and resolves it.
    maya.get_by_test_id("rule-comments-f1").click()
    thread = maya.locator("#comments-f1")
    thread.locator("textarea[name=body]").fill("Should Retail earn these points too?")
    thread.get_by_test_id("post-comment").click()
    expect(thread.get_by_test_id("thread")).to_have_count(1)
    expect(maya.get_by_test_id("unresolved-count")).to_have_text("1 unresolved")
    sam.goto(maya.url)
    discussion = sam.get_by_test_id("comments-all")
    expect(discussion).to_contain_text("Should Retail earn these points too?")
    discussion.get_by_test_id("reply-input").fill("Not yet — the evidence says no.")
    discussion.locator("button:has-text('Reply')").click()
    expect(sam.get_by_test_id("comments-all")).to_contain_text("the evidence says no")
    sam.get_by_test_id("comments-all").get_by_test_id("resolve-comment").click()
    expect(sam.get_by_test_id("comments-all").get_by_test_id("resolved-badge")).to_be_visible()
    expect(sam.get_by_test_id("unresolved-count")).to_have_text("0 unresolved")
    shot(sam, "agreement-4-draft-with-discussion")

    # The evidence: draft against active over the last 90 days.
    maya.reload()
    maya.get_by_test_id("tab-evidence").click()
    expect(maya.get_by_test_id("draft-mqls")).to_be_visible()
    expect(maya.get_by_test_id("evidence-help")).to_contain_text("14th day")
    maya.wait_for_function("document.querySelector('canvas[data-evidence-chart]').height > 0")
    shot(maya, "agreement-5-evidence")
    maya.get_by_test_id("tab-suggestions").click()
    expect(maya.get_by_test_id("signals")).to_be_visible()
    shot(maya, "agreement-6-suggestions")

    # Propose, both sign their own side, Maya publishes.
    maya.get_by_test_id("propose").click()
    expect(maya.get_by_test_id("version-status")).to_have_text("Proposed for sign-off")
    expect(maya.get_by_test_id("sign-sales")).to_have_count(0)  # marketing cannot sign for sales
    maya.get_by_test_id("sign-marketing").click()
    maya.get_by_test_id("sign-confirm-marketing").click()
    expect(maya.get_by_test_id("signature-marketing")).to_contain_text("Signed by Maya Fischer")
    sam.reload()
    expect(sam.get_by_test_id("sign-marketing")).to_have_count(0)
    sam.get_by_test_id("sign-sales").click()
    sam.get_by_test_id("sign-confirm-sales").click()
    expect(sam.get_by_test_id("signature-sales")).to_contain_text("Signed by Sam Okafor")
    maya.reload()
    shot(maya, "agreement-7-signed")
    maya.get_by_test_id("publish").click()
    expect(maya.locator("#messages")).to_contain_text("Version 2 is now the active agreement")
    expect(maya.get_by_test_id("active-card")).to_contain_text("Version 2")
    shot(maya, "agreement-8-published")
    assert AgreementVersion.objects.get(number=2).status == AgreementVersion.Status.ACTIVE
    assert AgreementVersion.objects.get(number=1).status == AgreementVersion.Status.RETIRED

    # The history shows the readable diff.
    maya.goto(maya.url.split("/agreement/")[0] + "/agreement/diff/?from=1&to=2")
    changes = maya.get_by_test_id("changes")
    expect(changes).to_contain_text("MQL threshold 60 → 65")
    expect(changes).to_contain_text("Fit rule 'Industry is one of Software, Financial Services, Manufacturing")
    expect(changes).to_contain_text("+15 → +20")
    expect(changes).to_contain_text("Added behaviour rule 'Form fill' +12 per form, cap 20, 90 days")
    shot(maya, "agreement-9-diff")
    maya.goto(maya.url.split("/agreement/")[0] + "/agreement/ours/")
    expect(maya.get_by_test_id("doc-threshold")).to_have_text("65")
    shot(maya, "agreement-10-our-agreement")


def test_a_titled_draft_tells_the_other_side_and_signing_warns_about_open_threads(organisation, new_page, log_in, shot):
    maya_page, sam_page = new_page(1440, 900), new_page(1440, 900)
    log_in(maya_page, "maya")
    maya_page.get_by_test_id("new-draft-title").fill("Event leads count")
    maya_page.get_by_test_id("start-draft").click()
    maya_page.wait_for_url(re.compile(r"/agreement/v/2/edit/$"))
    maya_page.goto(maya_page.url.replace("edit/", ""))
    expect(maya_page.get_by_test_id("draft-title")).to_have_text("Event leads count")

    # A rename is recorded; a comment that names Sam reaches him.
    maya_page.get_by_test_id("rename").locator("summary").click()
    maya_page.fill("#draft-title-input", "Event leads and form fills count")
    maya_page.get_by_test_id("rename-save").click()
    expect(maya_page.get_by_test_id("draft-title")).to_have_text("Event leads and form fills count")
    discussion = maya_page.get_by_test_id("comments-all")
    discussion.locator("textarea[name=body]").fill("@sam is a cap of 20 for form fills right?")
    discussion.get_by_test_id("post-comment").click()
    expect(maya_page.get_by_test_id("unresolved-count")).to_have_text("1 unresolved")
    maya_page.get_by_test_id("propose").click()

    log_in(sam_page, "sam")
    sam_page.goto(sam_page.url.split("/agreement/")[0] + "/sla/notifications/")
    notes = sam_page.get_by_test_id("notification")
    expect(notes.filter(has_text="mentioned you on Version 2 “Event leads and form fills count”")).to_have_count(1)
    expect(notes.filter(has_text="proposed Version 2")).to_have_count(1)
    shot(sam_page, "notifications-agreement")
    notes.filter(has_text="mentioned you").get_by_role("button", name=re.compile("Open")).click()
    sam_page.wait_for_url(re.compile(r"/agreement/v/2/#comment-\d+$"))

    # Signing asks first, and says what is still under discussion.
    sam_page.get_by_test_id("sign-sales").click()
    dialog = sam_page.get_by_test_id("sign-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_test_id("sign-unresolved")).to_contain_text("1 comment thread still unresolved")
    expect(dialog).to_contain_text("is a cap of 20 for form fills right?")
    shot(sam_page, "agreement-sign-confirmation")
    dialog.get_by_role("button", name="Not yet").click()
    expect(dialog).to_be_hidden()
    expect(sam_page.get_by_test_id("signature-sales")).to_contain_text("Awaiting")
    sam_page.get_by_test_id("sign-sales").click()
    sam_page.get_by_test_id("sign-confirm-sales").click()
    expect(sam_page.get_by_test_id("signature-sales")).to_contain_text("Signed by Sam Okafor")

    # The title travels: history and diff name it.
    maya_page.goto(maya_page.url.split("/agreement/")[0] + "/agreement/history/")
    expect(maya_page.locator("body")).to_contain_text("Event leads and form fills count")
    maya_page.goto(maya_page.url.split("/agreement/")[0] + "/agreement/diff/?from=1&to=2")
    expect(maya_page.get_by_test_id("diff-versions")).to_contain_text("“Event leads and form fills count”")
    assert AgreementVersion.objects.get(number=2).title == "Event leads and form fills count"
