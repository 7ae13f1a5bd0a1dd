"""Agreement pages over HTTP: permissions matrix, the publish journey, comments, presence, query counts."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from alignment import presence
from alignment.models import AgreementEvent, AgreementVersion, Comment, SignOff
from alignment.services import comment_add, draft_propose, draft_sign
from tests.alignment.conftest import editor_data
from tests.factories import PersonaFactory

pytestmark = pytest.mark.django_db
Status = AgreementVersion.Status


def read_urls(draft, active, persona) -> list[str]:
    return [
        reverse("alignment:agreement"),
        reverse("alignment:our_agreement"),
        reverse("alignment:history"),
        reverse("alignment:diff") + f"?from={active.number}&to={draft.number}",
        reverse("alignment:version", args=[draft.number]),
        reverse("alignment:version", args=[active.number]),
        reverse("alignment:presence", args=[draft.number]),
        reverse("alignment:comments", args=[draft.number]) + "?scope=all",
        reverse("alignment:persona_list"),
        reverse("alignment:persona_detail", args=[persona.pk]),
    ]


def leader_get_urls(draft, persona) -> list[str]:
    return [
        reverse("alignment:edit", args=[draft.number]),
        reverse("alignment:rule_row", args=[draft.number, "fit"]) + "?index=20",
        reverse("alignment:persona_create"),
        reverse("alignment:persona_edit", args=[persona.pk]),
    ]


def leader_post_urls(draft, persona, comment) -> list[str]:
    n = draft.number
    return [
        reverse("alignment:start"),
        reverse("alignment:edit", args=[n]),
        reverse("alignment:resolve", args=[n]),
        reverse("alignment:rename", args=[n]),
        reverse("alignment:propose", args=[n]),
        reverse("alignment:reopen", args=[n]),
        reverse("alignment:sign", args=[n]),
        reverse("alignment:publish", args=[n]),
        reverse("alignment:abandon", args=[n]),
        reverse("alignment:comment_create", args=[n]),
        reverse("alignment:comment_resolve", args=[comment.pk]),
        reverse("alignment:comment_reopen", args=[comment.pk]),
        reverse("alignment:persona_archive", args=[persona.pk]),
        reverse("alignment:persona_restore", args=[persona.pk]),
        reverse("alignment:persona_comment", args=[persona.pk]),
    ]


@pytest.fixture
def world(draft, active, marketing):
    persona = PersonaFactory()
    comment = comment_add(version=draft, user=marketing, body="First thoughts")
    return {"draft": draft, "active": active, "persona": persona, "comment": comment}


def test_anonymous_visitors_are_sent_to_login_everywhere(client, world):
    w = world
    urls = read_urls(w["draft"], w["active"], w["persona"]) + leader_get_urls(w["draft"], w["persona"])
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith(reverse("login")), url
    for url in leader_post_urls(w["draft"], w["persona"], w["comment"]):
        response = client.post(url)
        assert response.status_code == 302 and response.url.startswith(reverse("login")), url


def test_every_role_reads_and_outsiders_are_refused(login, world, marketing, sales, sdr, manager, admin_user, outsider):
    urls = read_urls(world["draft"], world["active"], world["persona"])
    for user in (marketing, sales, sdr, manager, admin_user):
        client = login(user)
        for url in urls:
            assert client.get(url).status_code == 200, (user.username, url)
    client = login(outsider)
    for url in urls:
        assert client.get(url).status_code == 403, url


def test_only_leaders_and_admins_open_the_editing_pages(login, world, marketing, sales, sdr, manager, admin_user):
    urls = leader_get_urls(world["draft"], world["persona"])
    for user in (marketing, sales, admin_user):
        for url in urls:
            assert login(user).get(url).status_code == 200, (user.username, url)
    for user in (sdr, manager):
        for url in urls:
            assert login(user).get(url).status_code == 403, (user.username, url)


def test_managers_and_sdrs_cannot_change_anything(login, world, sdr, manager, outsider):
    before = (AgreementEvent.objects.count(), Comment.objects.count(), AgreementVersion.objects.count())
    for user in (sdr, manager, outsider):
        client = login(user)
        for url in leader_post_urls(world["draft"], world["persona"], world["comment"]):
            assert client.post(url, {"body": "x", "side": "sales"}).status_code == 403, (user.username, url)
    assert (AgreementEvent.objects.count(), Comment.objects.count(), AgreementVersion.objects.count()) == before


def test_read_only_roles_see_no_editing_controls(login, world, sdr):
    page = login(sdr).get(reverse("alignment:version", args=[world["draft"].number])).content.decode()
    assert 'data-testid="edit-draft"' not in page and 'data-testid="propose"' not in page
    assert (
        'data-testid="comment-form"'
        not in login(sdr)
        .get(reverse("alignment:comments", args=[world["draft"].number]) + "?scope=all")
        .content.decode()
    )


def test_the_whole_journey_start_edit_propose_sign_publish(
    login, active, marketing, sales, django_capture_on_commit_callbacks
):
    m, s = login(marketing), login(sales)
    landing = m.get(reverse("home"))
    assert landing.url == reverse("alignment:agreement")
    response = m.post(reverse("alignment:start"))
    draft = AgreementVersion.objects.get(status=Status.DRAFT)
    assert response.url == reverse("alignment:edit", args=[draft.number])
    data = editor_data(draft.spec, revision=1)
    data["mql_threshold"] = 70
    assert m.post(reverse("alignment:edit", args=[draft.number]), data).status_code == 302
    assert m.post(reverse("alignment:propose", args=[draft.number])).status_code == 302
    # Sales cannot sign for marketing; signs for sales.
    wrong = s.post(reverse("alignment:sign", args=[draft.number]), {"side": "marketing", "confirmed": "1"}, follow=True)
    assert b"Only a marketing leader can sign for marketing" in wrong.content
    s.post(reverse("alignment:sign", args=[draft.number]), {"side": "sales", "confirmed": "1"})
    early = m.post(reverse("alignment:publish", args=[draft.number]), follow=True)
    assert b"missing: Marketing" in early.content
    m.post(reverse("alignment:sign", args=[draft.number]), {"side": "marketing", "confirmed": "1"})
    assert SignOff.objects.filter(version=draft, voided_at__isnull=True).count() == 2
    with django_capture_on_commit_callbacks(execute=True):
        published = m.post(reverse("alignment:publish", args=[draft.number]), follow=True)
    assert b"is now the active agreement" in published.content
    draft.refresh_from_db()
    active.refresh_from_db()
    assert (draft.status, draft.published_by, active.status) == (Status.ACTIVE, marketing, Status.RETIRED)
    assert len(mail.outbox) == 1
    history = m.get(reverse("alignment:version", args=[draft.number])).content.decode()
    assert "MQL threshold 60 → 70" in history
    ours = login(marketing).get(reverse("alignment:our_agreement")).content.decode()
    assert 'data-testid="doc-threshold">70<' in ours


def test_diff_page_between_any_two_versions(login, sdr, active, draft, marketing):
    from alignment.services import draft_save

    spec = {**draft.spec, "mql_threshold": 75}
    draft_save(version=draft, user=marketing, spec=spec, base_revision=1)
    page = login(sdr).get(reverse("alignment:diff"), {"from": 1, "to": draft.number}).content.decode()
    assert "MQL threshold 60 → 75" in page
    same = login(sdr).get(reverse("alignment:diff"), {"from": 1, "to": 1}).content.decode()
    assert "No differences" in same
    missing = login(sdr).get(reverse("alignment:diff"), {"from": 1, "to": 99}).content.decode()
    assert "There is no version 99" in missing
    assert login(sdr).get(reverse("alignment:diff"), {"from": "x"}).status_code == 400


def test_comments_on_a_rule_reply_resolve_and_reopen_with_htmx(login, draft, marketing, sales):
    url = reverse("alignment:comment_create", args=[draft.number])
    m = login(marketing)
    response = m.post(url, {"body": "Should retail count?", "rule_id": "f1", "scope": "f1"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert '"unresolved": 1' in response["HX-Trigger"]
    thread = Comment.objects.get(rule_id="f1")
    login(sales).post(url, {"body": "Yes, add it.", "parent": thread.pk, "scope": "f1"}, HTTP_HX_REQUEST="true")
    assert thread.replies.get().author == sales
    resolved = m.post(reverse("alignment:comment_resolve", args=[thread.pk]) + "?scope=f1", HTTP_HX_REQUEST="true")
    assert '"unresolved": 0' in resolved["HX-Trigger"]
    thread.refresh_from_db()
    assert thread.resolved_by == marketing
    m.post(reverse("alignment:comment_reopen", args=[thread.pk]) + "?scope=f1", HTTP_HX_REQUEST="true")
    thread.refresh_from_db()
    assert thread.resolved_at is None
    empty = m.post(url, {"body": "", "scope": "all"}, HTTP_HX_REQUEST="true")
    assert empty.status_code == 422
    page = m.get(reverse("alignment:version", args=[draft.number])).content.decode()
    assert 'data-testid="unresolved-count">1 unresolved<' in page


def test_presence_shows_who_else_has_the_draft_open_and_their_last_save(login, draft, marketing, sales):
    from django.core.cache import cache

    cache.delete_many([f"accord:presence:{draft.pk}:roster"])
    data = editor_data(draft.spec, revision=1)
    data["mql_threshold"] = 64
    login(sales).post(reverse("alignment:edit", args=[draft.number]), data)
    login(sales).get(reverse("alignment:presence", args=[draft.number]), {"editing": "1"})
    page = login(marketing).get(reverse("alignment:presence", args=[draft.number]), {"revision": 1})
    html = page.content.decode()
    assert sales.get_full_name() in html and "editing" in html and "saved" in html
    assert 'data-testid="newer-revision"' in html  # marketing still looks at revision 1
    assert [p["name"] for p in presence.present(draft.pk, exclude_user_id=sales.pk)] == [marketing.get_full_name()]
    presence.leave(draft.pk, sales)
    assert (
        sales.get_full_name()
        not in login(marketing).get(reverse("alignment:presence", args=[draft.number])).content.decode()
    )


def test_landing_and_lists_use_a_fixed_number_of_queries(login, draft, marketing, sales, django_assert_max_num_queries):
    draft_propose(version=draft, user=marketing)
    draft_sign(version=draft, user=marketing, side="marketing")
    for i in range(5):
        comment_add(version=draft, user=sales, body=f"Comment {i}", rule_id="f1" if i % 2 else "")
    client = login(marketing)
    # Pages that check a draft read the data dictionary: four queries whatever its size.
    for url, limit in (
        (reverse("alignment:agreement"), 18),
        (reverse("alignment:history"), 10),
        (reverse("alignment:version", args=[draft.number]), 20),
        (reverse("alignment:comments", args=[draft.number]) + "?scope=all", 10),
        (reverse("alignment:persona_list"), 6),
    ):
        with django_assert_max_num_queries(limit):
            assert client.get(url).status_code == 200, url


def test_abandon_from_the_page(login, draft, sales):
    response = login(sales).post(reverse("alignment:abandon", args=[draft.number]), follow=True)
    assert b"was abandoned" in response.content
    draft.refresh_from_db()
    assert draft.status == Status.ABANDONED
    assert b"Abandoned" in login(sales).get(reverse("alignment:history")).content


def test_a_leader_titles_the_draft_and_the_title_shows_in_history_and_diff(login, active, draft, marketing, sdr):
    response = login(marketing).post(
        reverse("alignment:rename", args=[draft.number]), {"title": "  Event leads  count "}
    )
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.title == "Event leads count"
    event = AgreementEvent.objects.filter(version=draft, action="renamed").get()
    assert event.actor == marketing and "Event leads count" in event.summary
    assert "Event leads count" in login(sdr).get(reverse("alignment:history")).content.decode()
    diff = login(sdr).get(reverse("alignment:diff"), {"from": 1, "to": draft.number}).content.decode()
    assert "“Event leads count”" in diff and "“First agreement”" in diff


def test_an_empty_title_is_refused_and_readers_cannot_rename(login, draft, marketing, sdr):
    login(marketing).post(reverse("alignment:rename", args=[draft.number]), {"title": "   "})
    assert login(sdr).post(reverse("alignment:rename", args=[draft.number]), {"title": "Mine"}).status_code == 403
    draft.refresh_from_db()
    assert draft.title == "Changes to version 1"


def test_a_draft_can_be_started_with_a_title(login, active, marketing):
    login(marketing).post(reverse("alignment:start"), {"title": "Stricter knock-outs"})
    assert AgreementVersion.objects.get(status=Status.DRAFT).title == "Stricter knock-outs"


def test_signing_needs_the_confirmation_and_the_dialog_warns_about_open_threads(login, draft, marketing):
    comment_add(version=draft, user=marketing, body="Is the cap of 20 right?")
    draft_propose(version=draft, user=marketing)
    client = login(marketing)
    page = client.get(reverse("alignment:version", args=[draft.number])).content.decode()
    assert 'data-testid="sign-dialog"' in page
    assert "1 comment thread still unresolved" in page and "Is the cap of 20 right?" in page
    unconfirmed = client.post(reverse("alignment:sign", args=[draft.number]), {"side": "marketing"}, follow=True)
    assert b"Nothing was signed" in unconfirmed.content
    assert not SignOff.objects.filter(version=draft).exists()
    client.post(reverse("alignment:sign", args=[draft.number]), {"side": "marketing", "confirmed": "1"})
    assert SignOff.objects.get(version=draft).user == marketing
