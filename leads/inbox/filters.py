import django_filters

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
        return queryset.search(value)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.form.fields.items():
            field.widget.attrs.setdefault(
                "class", "form-control form-control-sm" if name == "q" else "form-select form-select-sm"
            )
