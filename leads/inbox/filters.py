"""The lead list's filters, sort order and CSV columns: the page and its export read the same ones."""

import django_filters

from alignment import spec as vocab
from leads.models import ImportedLead, Lead, Stage
from portal.access import display_name
from portal.downloads import spreadsheet_safe

# ?sort= value → the columns it orders by; "-" in front reverses. The id breaks ties so that pages
# never repeat or skip a lead.
SORTS = {
    "name": ("last_name", "first_name"),
    "title": ("job_title",),
    "company": ("account__name",),
    "stage": ("stage",),
    "score": ("score",),
    "grade": ("grade",),
    "owner": ("owner__last_name", "owner__first_name", "owner__username"),
    "updated": ("updated_at",),
}
SORT_LABELS = {
    "name": "Name",
    "title": "Title",
    "company": "Company",
    "stage": "Stage",
    "score": "Score",
    "grade": "Grade",
    "owner": "Owner",
    "updated": "Updated",
}


class LeadFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search", max_length=100)
    stage = django_filters.ChoiceFilter(choices=Stage.choices, empty_label="Any stage")
    grade = django_filters.ChoiceFilter(choices=[(g, g) for g in vocab.GRADES], empty_label="Any grade")
    source = django_filters.ChoiceFilter(choices=vocab.SOURCES, empty_label="Any source")
    imported = django_filters.NumberFilter(method="from_import", label="Import", min_value=1)
    sort = django_filters.ChoiceFilter(
        choices=[
            (f"{sign}{key}", f"{label}{' (reversed)' if sign else ''}")
            for key, label in SORT_LABELS.items()
            for sign in ("", "-")
        ],
        method="sort_by",
        label="Sort by",
    )

    class Meta:
        model = Lead
        fields = ["q", "stage", "grade", "source", "imported", "sort"]

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.search(value)

    def from_import(self, queryset, name, value):
        """The leads one CSV import created or updated (``ImportedLead``)."""
        return queryset.filter(pk__in=ImportedLead.objects.filter(job_id=int(value)).values("lead_id"))

    def sort_by(self, queryset, name, value):
        descending = value.startswith("-")
        columns = SORTS[value.lstrip("-")]
        return queryset.order_by(*(f"-{c}" if descending else c for c in columns), "-id" if descending else "id")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.form.fields.items():
            field.widget.attrs.setdefault(
                "class", "form-control form-control-sm" if name == "q" else "form-select form-select-sm"
            )


EXPORT_COLUMNS = (
    ("Id", lambda lead: lead.pk),
    ("First name", lambda lead: lead.first_name),
    ("Last name", lambda lead: lead.last_name),
    ("E-mail", lambda lead: lead.email),
    ("Job title", lambda lead: lead.job_title),
    ("Company", lambda lead: lead.account.name if lead.account else ""),
    ("Country", lambda lead: lead.account.country if lead.account else ""),
    ("Stage", lambda lead: lead.get_stage_display()),
    ("Score", lambda lead: lead.score),
    ("Fit", lambda lead: lead.fit_score),
    ("Engagement", lambda lead: lead.engagement_score),
    ("Grade", lambda lead: lead.grade),
    ("Owner", lambda lead: display_name(lead.owner, "") if lead.owner_id else ""),
    ("Source", lambda lead: lead.get_source_display()),
    ("Updated", lambda lead: lead.updated_at.isoformat()),
)


def export_rows(queryset):
    """The header and one row per lead, read 2,000 leads at a time."""
    yield [label for label, _ in EXPORT_COLUMNS]
    for lead in queryset.iterator(chunk_size=2000):
        yield [spreadsheet_safe(value(lead)) for _, value in EXPORT_COLUMNS]
