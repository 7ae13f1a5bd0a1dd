import django_filters
from django.db.models import Q

from alignment import spec as vocab
from leads.models import Lead, Stage


class LeadFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    stage = django_filters.ChoiceFilter(choices=Stage.choices, empty_label="Any stage")
    grade = django_filters.ChoiceFilter(choices=[(g, g) for g in vocab.GRADES], empty_label="Any grade")
    source = django_filters.ChoiceFilter(choices=vocab.SOURCES, empty_label="Any source")

    class Meta:
        model = Lead
        fields = ["q", "stage", "grade", "source"]

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(email__icontains=value)
            | Q(first_name__icontains=value)
            | Q(last_name__icontains=value)
            | Q(account__name__icontains=value)
            | Q(job_title__icontains=value)
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.form.fields.items():
            field.widget.attrs.setdefault(
                "class", "form-control form-control-sm" if name == "q" else "form-select form-select-sm"
            )
