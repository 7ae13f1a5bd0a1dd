"""Writes on the agreement: drafts, co-editing saves, sign-off, publishing, comments, personas.

Every service is keyword-only, runs in one transaction, re-reads the version with
``select_for_update()``, checks the state, raises ``AgreementError`` with a message a person can
read, and appends an ``AgreementEvent`` (who, when, what). Side effects (e-mail) run on commit.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.urls import reverse
from django.utils import timezone

from alignment import diff as spec_diff
from alignment.dictionary import load_dictionary
from alignment.merge import Conflict, merge_specs
from alignment.models import (
    AgreementEvent,
    AgreementRevision,
    AgreementVersion,
    Comment,
    Persona,
    PersonaComment,
    SignOff,
)
from alignment.signals import agreement_published
from alignment.spec import default_spec
from alignment.validation import ensure_valid
from portal.access import Role, display_name, user_roles
from portal.notifications import notify

logger = logging.getLogger(__name__)

Status = AgreementVersion.Status
Action = AgreementEvent.Action
OPEN_STATUSES = (Status.DRAFT, Status.PROPOSED)
SIDE_ROLES = {SignOff.Side.MARKETING: Role.MARKETING, SignOff.Side.SALES: Role.SALES}


class AgreementError(Exception):
    """A request the agreement's current state does not allow; the message is shown as is."""


class MergeConflict(AgreementError):
    """A stale save changed the same fields as someone else; the person must choose."""

    def __init__(self, *, conflicts: tuple[Conflict, ...], current_revision: int, others: list[str]):
        self.conflicts = conflicts
        self.current_revision = current_revision
        self.others = others
        super().__init__(
            f"{', '.join(others) or 'Someone'} changed the same "
            f"{'field' if len(conflicts) == 1 else 'fields'} while you were editing: choose which value to keep."
        )


@dataclass
class SaveResult:
    version: AgreementVersion
    saved: bool
    merged: bool = False
    merged_with: list[str] = field(default_factory=list)
    changes: list[spec_diff.Change] = field(default_factory=list)
    voided: list[SignOff] = field(default_factory=list)


def persona_names() -> dict[int, str]:
    """Persona id → name (archived ones included: old versions still name them)."""
    return dict(Persona.objects.values_list("id", "name"))


def active_persona_ids() -> list[int]:
    return list(Persona.objects.active().values_list("id", flat=True))


def _log(version: AgreementVersion, action: str, user, summary: str = "", **details) -> AgreementEvent:
    return AgreementEvent.objects.create(
        version=version, action=action, actor=user, revision=version.revision, summary=summary, details=details
    )


def _lock(version: AgreementVersion) -> AgreementVersion:
    return AgreementVersion.objects.select_for_update().get(pk=version.pk)


def version_label(version: AgreementVersion) -> str:
    """How notifications, e-mails and the history name a version: its number and its title."""
    return f"Version {version.number}" + (f" “{version.title}”" if version.title else "")


def _version_url(version: AgreementVersion, anchor: str = "") -> str:
    return reverse("alignment:version", args=[version.number]) + (f"#{anchor}" if anchor else "")


def _leaders():
    User = get_user_model()
    return User.objects.filter(is_active=True, groups__name__in=[Role.MARKETING.value, Role.SALES.value]).distinct()


def _void_signatures(version: AgreementVersion, user, why: str) -> list[SignOff]:
    live = list(version.signoffs.filter(voided_at__isnull=True).select_related("user"))
    if not live:
        return []
    now = timezone.now()
    SignOff.objects.filter(pk__in=[s.pk for s in live]).update(voided_at=now)
    for signoff in live:
        signoff.voided_at = now
        _log(
            version,
            Action.SIGNATURE_VOIDED,
            user,
            f"{signoff.get_side_display()} signature of {display_name(signoff.user)} voided: {why}",
            side=signoff.side,
            signer=signoff.user_id,
        )
    notify(
        users=[s.user for s in live],
        actor=user,
        kind="agreement",
        title=f"Your signature on {version_label(version)} was voided",
        body=f"{display_name(user)} voided it: {why}. Read the changes and sign again when you agree.",
        url=_version_url(version),
    )
    return live


def open_draft() -> AgreementVersion | None:
    return AgreementVersion.objects.filter(status__in=OPEN_STATUSES).first()


TITLE_MAX = 200


def _clean_title(title: str) -> str:
    title = " ".join((title or "").split())
    if len(title) > TITLE_MAX:
        raise AgreementError(f"Keep the title under {TITLE_MAX} characters.")
    return title


def draft_start(*, user, title: str = "") -> AgreementVersion:
    """Open the organisation's one draft, copied from the active version (or the default spec)."""
    title = _clean_title(title)
    with transaction.atomic():
        # Serialise concurrent starts on the active row; the partial unique index is the backstop.
        active = AgreementVersion.objects.select_for_update().filter(status=Status.ACTIVE).first()
        if AgreementVersion.objects.filter(status__in=OPEN_STATUSES).exists():
            raise AgreementError("A draft is already open; edit that one (only one draft at a time).")
        number = (AgreementVersion.objects.aggregate(n=Max("number"))["n"] or 0) + 1
        spec = active.spec if active else default_spec()
        try:
            with transaction.atomic():
                version = AgreementVersion.objects.create(
                    number=number,
                    status=Status.DRAFT,
                    spec=spec,
                    revision=1,
                    title=title or (f"Changes to version {active.number}" if active else "First agreement"),
                    author=user,
                    based_on=active,
                )
        except IntegrityError:
            raise AgreementError("A draft was just opened by someone else; reload to edit it.") from None
        AgreementRevision.objects.create(version=version, revision=1, spec=spec, author=user, note="Started")
        _log(
            version,
            Action.CREATED,
            user,
            f"Started version {number} from version {active.number}" if active else f"Started version {number}",
        )
    return version


def _spec_at(version: AgreementVersion, revision: int) -> dict:
    snapshot = AgreementRevision.objects.filter(version=version, revision=revision).values_list("spec", flat=True)
    for spec in snapshot:
        return spec
    raise AgreementError(f"Revision {revision} of this draft is unknown; reload the page to edit the latest one.")


def _authors_since(version: AgreementVersion, revision: int) -> list[str]:
    users = (
        AgreementRevision.objects.filter(version=version, revision__gt=revision)
        .select_related("author")
        .order_by("revision")
    )
    names: list[str] = []
    for snapshot in users:
        name = display_name(snapshot.author)
        if name not in names:
            names.append(name)
    return names


def draft_save(
    *,
    version: AgreementVersion,
    user,
    spec: dict,
    base_revision: int,
    choices: dict[str, str] | None = None,
    note: str = "",
) -> SaveResult:
    """Save ``spec`` (edited from ``base_revision``). A stale base is merged with what others saved.

    Non-overlapping edits merge automatically; the same field changed on both sides raises
    ``MergeConflict`` until ``choices`` settle every conflict. Saving a proposed draft reopens it
    and voids its signatures. Raises ``SpecInvalid`` for a spec (or merge result) with problems.
    """
    with transaction.atomic():
        version = _lock(version)
        if version.status not in OPEN_STATUSES:
            raise AgreementError(
                f"Version {version.number} is {version.get_status_display().lower()}; it cannot change."
            )
        if base_revision > version.revision or base_revision < 1:
            raise AgreementError("Your copy names a revision this draft never had; reload the page.")
        merged_with: list[str] = []
        result_spec = spec
        if base_revision != version.revision:
            base = _spec_at(version, base_revision)
            merge = merge_specs(base, spec, version.spec, choices)
            merged_with = _authors_since(version, base_revision)
            if merge.conflicts:
                raise MergeConflict(conflicts=merge.conflicts, current_revision=version.revision, others=merged_with)
            result_spec = merge.spec
        dictionary = load_dictionary()
        ensure_valid(result_spec, persona_ids=active_persona_ids(), dictionary=dictionary)
        if result_spec == version.spec:
            return SaveResult(version=version, saved=False, merged=bool(merged_with), merged_with=merged_with)
        names = persona_names()
        changes = spec_diff.spec_changes(version.spec, result_spec, names, dictionary)
        voided: list[SignOff] = []
        update_fields = ["spec", "revision", "updated_at"]
        if version.status == Status.PROPOSED:
            version.status = Status.DRAFT
            version.proposed_at = None
            update_fields += ["status", "proposed_at"]
            _log(version, Action.REOPENED, user, "Reopened by an edit")
        voided = _void_signatures(version, user, "the agreement changed after signing")
        version.spec = result_spec
        version.revision += 1
        version.save(update_fields=update_fields)
        AgreementRevision.objects.create(
            version=version,
            revision=version.revision,
            spec=result_spec,
            author=user,
            based_on_revision=base_revision,
            note=note[:200],
        )
        merged = bool(merged_with)
        _log(
            version,
            Action.MERGED if merged else Action.SAVED,
            user,
            spec_diff.summary(changes),
            changes=[c.text for c in changes],
            based_on_revision=base_revision,
            merged_with=merged_with,
            note=note,
        )
    return SaveResult(
        version=version, saved=True, merged=merged, merged_with=merged_with, changes=changes, voided=voided
    )


def draft_adopt_proposal(*, user, proposal: dict, card: dict, note: str = "") -> SaveResult:
    """Fill the open draft (or a new one) with a proposal's sections and keep its model card.

    ``proposal`` holds the sections a proposal from outcomes replaces (rules, threshold, grade
    bands); SLA terms and reason codes stay as they are. The save goes through ``draft_save``, so
    validation, revisions and the voiding of signatures apply as to any edit; the card is kept on
    the version for both signers and the history ("began as a proposal").
    """
    with transaction.atomic():
        version = open_draft() or draft_start(user=user, title="Proposed from outcomes")
        spec = {**version.spec, **{key: value for key, value in proposal.items() if key in version.spec}}
        result = draft_save(version=version, user=user, spec=spec, base_revision=version.revision, note=note)
        version = result.version
        version.model_card = {**card, "revision": version.revision}
        version.save(update_fields=["model_card", "updated_at"])
        _log(
            version,
            Action.FROM_DATA,
            user,
            note or "Filled from a proposal from outcomes",
            cv_auc=card.get("cv_auc"),
            leads=card.get("leads"),
        )
    return result


def draft_conflicts(*, version: AgreementVersion, spec: dict, base_revision: int) -> tuple[Conflict, ...]:
    """The conflicts a save of ``spec`` (edited from ``base_revision``) would meet now, before any choice."""
    version.refresh_from_db(fields=["spec", "revision"])
    if base_revision == version.revision:
        return ()
    return merge_specs(_spec_at(version, base_revision), spec, version.spec).conflicts


def draft_rename(*, version: AgreementVersion, user, title: str) -> AgreementVersion:
    """Give the open draft a title (what it changes, in a few words); signatures stay: the terms do not change."""
    title = _clean_title(title)
    if not title:
        raise AgreementError("Give the draft a title, e.g. “Lower threshold for event leads”.")
    with transaction.atomic():
        version = _lock(version)
        if version.status not in OPEN_STATUSES:
            raise AgreementError(
                f"Version {version.number} is {version.get_status_display().lower()}; it cannot change."
            )
        if title == version.title:
            return version
        old = version.title
        version.title = title
        version.save(update_fields=["title", "updated_at"])
        _log(version, Action.RENAMED, user, f"Renamed “{old}” to “{title}”" if old else f"Titled “{title}”", old=old)
    return version


def draft_propose(*, version: AgreementVersion, user) -> AgreementVersion:
    """Freeze the draft for sign-off; refused while the spec has problems."""
    with transaction.atomic():
        version = _lock(version)
        if version.status == Status.PROPOSED:
            raise AgreementError("This draft is already proposed for sign-off.")
        if version.status != Status.DRAFT:
            raise AgreementError(f"Only a draft can be proposed; version {version.number} is {version.status}.")
        ensure_valid(version.spec, persona_ids=active_persona_ids(), dictionary=load_dictionary())
        version.status = Status.PROPOSED
        version.proposed_at = timezone.now()
        version.save(update_fields=["status", "proposed_at", "updated_at"])
        _log(version, Action.PROPOSED, user, f"Proposed revision {version.revision} for sign-off")
        notify(
            users=_leaders(),
            actor=user,
            kind="agreement",
            title=f"{display_name(user)} proposed {version_label(version)} for sign-off",
            body=f"Revision {version.revision} is frozen. Read it, and sign for your side when you agree.",
            url=_version_url(version),
        )
    return version


def draft_reopen(*, version: AgreementVersion, user) -> AgreementVersion:
    """Unfreeze a proposed draft for editing; its signatures are voided."""
    with transaction.atomic():
        version = _lock(version)
        if version.status != Status.PROPOSED:
            raise AgreementError("Only a proposed draft can be reopened.")
        version.status = Status.DRAFT
        version.proposed_at = None
        version.save(update_fields=["status", "proposed_at", "updated_at"])
        _log(version, Action.REOPENED, user, "Reopened for editing")
        _void_signatures(version, user, "the draft was reopened for editing")
    return version


def sides_for(user) -> list[str]:
    """The sides a user may sign for: the leader roles they actually hold (admin alone is not enough)."""
    roles = user_roles(user)
    return [side for side, role in SIDE_ROLES.items() if role.value in roles]


def draft_sign(*, version: AgreementVersion, user, side: str) -> SignOff:
    """Sign the proposed revision for ``side``. Only a leader of that side may; one person, one side."""
    if side not in SIDE_ROLES:
        raise AgreementError("Unknown side.")
    side_label = SignOff.Side(side).label
    if side not in sides_for(user):
        raise AgreementError(f"Only a {SIDE_ROLES[side].label.lower()} can sign for {side_label.lower()}.")
    with transaction.atomic():
        version = _lock(version)
        if version.status != Status.PROPOSED:
            raise AgreementError("Propose the draft before signing: only a frozen revision can be signed.")
        live = {s.side: s for s in version.signoffs.filter(voided_at__isnull=True).select_related("user")}
        if side in live:
            raise AgreementError(f"{side_label} has already signed (by {display_name(live[side].user)}).")
        if any(s.user_id == user.pk for s in live.values()):
            raise AgreementError("You already signed for the other side: each side needs its own signatory.")
        signoff = SignOff.objects.create(version=version, side=side, user=user, revision=version.revision)
        _log(version, Action.SIGNED, user, f"Signed for {side_label.lower()} (revision {version.revision})", side=side)
        missing = [SignOff.Side(s).label.lower() for s in SIDE_ROLES if s != side and s not in live]
        notify(
            users=_leaders(),
            actor=user,
            kind="agreement",
            title=f"{display_name(user)} signed {version_label(version)} for {side_label.lower()}",
            body=(
                f"It still needs a signature from {', '.join(missing)}."
                if missing
                else "Both sides have signed: it can be published."
            ),
            url=_version_url(version),
        )
    return signoff


def _leader_emails() -> list[str]:
    return sorted(set(_leaders().exclude(email="").values_list("email", flat=True)))


def _send_published_mail(version_id: int) -> None:
    version = AgreementVersion.objects.select_related("published_by").get(pk=version_id)
    recipients = _leader_emails()
    if not recipients:
        return
    previous = version.based_on.spec if version.based_on else {}
    changes = spec_diff.spec_changes(previous, version.spec, persona_names(), load_dictionary())
    lines = [f"- {c.text}" for c in changes] or ["- (no changes to the previous version)"]
    url = settings.ACCORD_SITE_URL.rstrip("/") + reverse("alignment:our_agreement")
    body = (
        f"{version_label(version)} of the marketing–sales agreement is now active.\n"
        f"Published by {display_name(version.published_by)} on {version.published_at:%d %b %Y %H:%M %Z}.\n\n"
        f"What changed:\n" + "\n".join(lines) + f"\n\nRead the agreement: {url}\n"
        "Every lead is being rescored against it now.\n"
    )
    send_mail(f"{version_label(version)} of the agreement is now active", body, None, recipients)


def draft_publish(*, version: AgreementVersion, user) -> AgreementVersion:
    """Make the signed draft the active agreement and retire the previous one.

    Needs one live signature per side on the current revision. Sends ``agreement_published``
    inside the transaction (receivers queue rescoring on commit) and e-mails the leaders on commit.
    """
    with transaction.atomic():
        version = _lock(version)
        if version.status != Status.PROPOSED:
            raise AgreementError("Only a proposed, signed draft can be published.")
        live = {s.side: s for s in version.signoffs.filter(voided_at__isnull=True, revision=version.revision)}
        missing = [SignOff.Side(side).label for side in SIDE_ROLES if side not in live]
        if missing:
            raise AgreementError(f"Publishing needs a signature from each side; missing: {', '.join(missing)}.")
        now = timezone.now()
        previous = AgreementVersion.objects.select_for_update().filter(status=Status.ACTIVE).first()
        if previous is not None:
            previous.status = Status.RETIRED
            previous.retired_at = now
            previous.save(update_fields=["status", "retired_at", "updated_at"])
            _log(previous, Action.RETIRED, user, f"Replaced by version {version.number}", replaced_by=version.number)
        version.status = Status.ACTIVE
        version.published_at = now
        version.published_by = user
        version.save(update_fields=["status", "published_at", "published_by", "updated_at"])
        _log(
            version,
            Action.PUBLISHED,
            user,
            f"Published version {version.number}" + (f", retiring version {previous.number}" if previous else ""),
        )
        agreement_published.send(sender=AgreementVersion, version_id=version.pk)
        transaction.on_commit(lambda: _send_published_mail(version.pk))
    return version


def draft_abandon(*, version: AgreementVersion, user, reason: str = "") -> AgreementVersion:
    """Close the draft without publishing; the history keeps it."""
    with transaction.atomic():
        version = _lock(version)
        if version.status not in OPEN_STATUSES:
            raise AgreementError("Only an open draft can be abandoned.")
        _void_signatures(version, user, "the draft was abandoned")
        version.status = Status.ABANDONED
        version.save(update_fields=["status", "updated_at"])
        _log(version, Action.ABANDONED, user, f"Abandoned{': ' + reason if reason else ''}", reason=reason)
    return version


# --- Comments ---------------------------------------------------------------------------------


def _rule_ids(spec: dict) -> set[str]:
    return {
        r.get("id")
        for section in ("fit_rules", "knockouts", "behaviour_rules")
        for r in spec.get(section, [])
        if isinstance(r, dict)
    }


def _comment_body(body: str) -> str:
    body = (body or "").strip()
    if not body:
        raise AgreementError("Write something before posting.")
    if len(body) > 5000:
        raise AgreementError("Keep comments under 5,000 characters.")
    return body


def comment_add(
    *, version: AgreementVersion, user, body: str, rule_id: str = "", parent: Comment | None = None
) -> Comment:
    """A comment on the version or one of its rules, or a reply (which takes its thread's anchor)."""
    body = _comment_body(body)
    with transaction.atomic():
        version = _lock(version)
        if version.status in (Status.ABANDONED, Status.RETIRED):
            raise AgreementError(f"Version {version.number} is {version.status}; its discussion is closed.")
        if parent is not None:
            if parent.version_id != version.pk:
                raise AgreementError("That comment belongs to another version.")
            root = parent if parent.parent_id is None else parent.parent
            rule_id = root.rule_id
            parent = root
        elif rule_id and rule_id not in _rule_ids(version.spec):
            raise AgreementError("That rule is no longer in this version.")
        comment = Comment.objects.create(version=version, rule_id=rule_id, parent=parent, author=user, body=body)
        where = f"rule {rule_id}" if rule_id else "the version"
        _log(
            version,
            Action.COMMENTED,
            user,
            f"{'Replied' if parent else 'Commented'} on {where}: {body[:120]}",
            comment=comment.pk,
            rule_id=rule_id,
        )
        _notify_comment(version=version, comment=comment, user=user)
    return comment


# ``@username``: Django usernames allow letters, digits and @ . + - _; a trailing full stop ends the sentence.
MENTION = re.compile(r"(?<![\w@])@([\w.@+-]+)")


def mentioned_users(body: str):
    """Active users named as ``@username`` in ``body``."""
    names = {name.rstrip(".") for name in MENTION.findall(body)}
    return get_user_model().objects.filter(is_active=True, username__in=names) if names else []


def _notify_comment(*, version: AgreementVersion, comment: Comment, user) -> None:
    """Those named in the comment are told they were mentioned; the thread's earlier writers, of the reply."""
    root = comment.parent or comment
    url = _version_url(version, f"comment-{root.pk}")
    excerpt = comment.body if len(comment.body) <= 500 else comment.body[:499] + "…"
    told = notify(
        users=mentioned_users(comment.body),
        actor=user,
        kind="mention",
        title=f"{display_name(user)} mentioned you on {version_label(version)}",
        body=excerpt,
        url=url,
    )
    if comment.parent is None:
        return
    writers = get_user_model().objects.filter(
        Q(pk=root.author_id) | Q(pk__in=root.replies.exclude(pk=comment.pk).values("author_id"))
    )
    notify(
        users=[w for w in writers if w.pk not in told],
        actor=user,
        kind="comment",
        title=f"{display_name(user)} replied on {version_label(version)}",
        body=excerpt,
        url=url,
    )


def comment_resolve(*, comment: Comment, user) -> Comment:
    with transaction.atomic():
        comment = Comment.objects.select_for_update(of=("self",)).select_related("version").get(pk=comment.pk)
        if comment.parent_id is not None:
            raise AgreementError("Resolve the thread, not a reply.")
        if comment.resolved_at is not None:
            raise AgreementError("This thread is already resolved.")
        comment.resolved_at = timezone.now()
        comment.resolved_by = user
        comment.save(update_fields=["resolved_at", "resolved_by"])
        _log(comment.version, Action.COMMENT_RESOLVED, user, f"Resolved: {comment.body[:120]}", comment=comment.pk)
    return comment


def comment_reopen(*, comment: Comment, user) -> Comment:
    with transaction.atomic():
        comment = Comment.objects.select_for_update(of=("self",)).select_related("version").get(pk=comment.pk)
        if comment.resolved_at is None:
            raise AgreementError("This thread is already open.")
        comment.resolved_at = None
        comment.resolved_by = None
        comment.save(update_fields=["resolved_at", "resolved_by"])
        _log(comment.version, Action.COMMENT_REOPENED, user, f"Reopened: {comment.body[:120]}", comment=comment.pk)
    return comment


# --- Personas ---------------------------------------------------------------------------------


def persona_save(*, persona: Persona, user, reason: str = "") -> Persona:
    """Create or update a persona; django-simple-history records who changed what."""
    with transaction.atomic():
        persona._change_reason = reason or ("Created" if persona.pk is None else "Edited")
        persona.history_user = user
        persona.save()
    return persona


def persona_archive(*, persona: Persona, user) -> Persona:
    """Archive a persona. Refused while the open draft's rules still reference it."""
    with transaction.atomic():
        persona = Persona.objects.select_for_update().get(pk=persona.pk)
        if persona.archived_at is not None:
            raise AgreementError(f"{persona.name} is already archived.")
        draft = open_draft()
        if draft is not None and _references_persona(draft.spec, persona.pk):
            raise AgreementError(
                f"Draft version {draft.number} still scores '{persona.name}'; remove those rules before archiving."
            )
        persona.archived_at = timezone.now()
        persona._change_reason = "Archived"
        persona.history_user = user
        persona.save(update_fields=["archived_at", "updated_at"])
    return persona


def persona_restore(*, persona: Persona, user) -> Persona:
    with transaction.atomic():
        persona = Persona.objects.select_for_update().get(pk=persona.pk)
        if persona.archived_at is None:
            raise AgreementError(f"{persona.name} is not archived.")
        persona.archived_at = None
        persona._change_reason = "Restored"
        persona.history_user = user
        persona.save(update_fields=["archived_at", "updated_at"])
    return persona


def _references_persona(spec: dict, persona_id: int) -> bool:
    return any(
        rule.get("field") == "persona" and str(persona_id) in {str(v) for v in rule.get("values") or []}
        for section in ("fit_rules", "knockouts")
        for rule in spec.get(section, [])
    )


def persona_comment_add(*, persona: Persona, user, body: str) -> PersonaComment:
    body = _comment_body(body)
    with transaction.atomic():
        return PersonaComment.objects.create(persona=persona, author=user, body=body)
