"""Rewriting stored values when the dictionary merges two choices (set-based, one statement per table).

``alignment.dictionary_services.choice_merge`` folds the choice into the other in the dictionary;
this module rewrites the values leads and accounts hold, in the same transaction.
"""

from __future__ import annotations

from django.db import connection, transaction

from alignment import dictionary_services as data_dictionary
from alignment.models import Attribute
from leads.models import Account, Lead

# Built-in choice attributes and the column holding them.
_COLUMNS = {"industry": (Account, "industry")}


def choice_values_merge(*, attribute: Attribute, source: str, target: str, user=None) -> tuple[int, list[str]]:
    """Merge the choice ``source`` into ``target`` and rewrite every stored value: returns the number
    of leads and accounts changed and the rules that named the old value (to show)."""
    with transaction.atomic():
        choice, rules = data_dictionary.choice_merge(attribute=attribute, source=source, target=target, user=user)
        if attribute.builtin:
            model, column = _COLUMNS.get(attribute.key, (Lead, attribute.key))
            changed = model.objects.filter(**{f"{column}__iexact": source}).update(**{column: choice.value})
        else:
            model = Lead if attribute.object == Attribute.Object.LEAD else Account
            changed = _rewrite_json(model, attribute.key, source, choice.value, multi=attribute.type == "multi_choice")
    return changed, rules


def country_region_set(*, code: str, region: str, user=None) -> int:
    """Give a country another region and rewrite the region stored with it on leads and accounts
    (rules on region compare those): returns the number of rows changed."""
    from alignment.models import Country

    with transaction.atomic():
        country = Country.objects.select_for_update().filter(code=code.upper()).first()
        if country is None:
            raise data_dictionary.DictionaryError(f"No country has the code {code}.", "code")
        country = data_dictionary.country_set_region(country=country, region=region, user=user)
        leads = Lead.objects.filter(country=country.code).exclude(region=country.region).update(region=country.region)
        accounts = Account.objects.filter(country=country.code).exclude(region=country.region)
        return leads + accounts.update(region=country.region)


def _rewrite_json(model, key: str, source: str, target: str, *, multi: bool) -> int:
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            if multi:  # stored lower case; the list keeps each value once
                cursor.execute(
                    f"UPDATE {table} SET attributes = jsonb_set(attributes, ARRAY[%s], ("  # noqa: S608
                    "SELECT COALESCE(jsonb_agg(DISTINCT CASE WHEN e = %s THEN %s ELSE e END), '[]'::jsonb)"
                    " FROM jsonb_array_elements_text(attributes -> %s) AS e))"
                    " WHERE jsonb_typeof(attributes -> %s) = 'array' AND (attributes -> %s) ? %s",
                    [key, source.lower(), target.lower(), key, key, key, source.lower()],
                )
            else:
                cursor.execute(
                    f"UPDATE {table} SET attributes = jsonb_set(attributes, ARRAY[%s], to_jsonb(%s::text))"  # noqa: S608
                    " WHERE lower(attributes ->> %s) = lower(%s)",
                    [key, target, key, source],
                )
            return cursor.rowcount
    # SQLite (the embedded default): few rows, read and written back.
    changed = 0
    for row in model.objects.filter(**{f"attributes__{key}__isnull": False}).only("id", "attributes"):
        value = row.attributes.get(key)
        if multi and isinstance(value, list) and source.lower() in value:
            row.attributes[key] = list(dict.fromkeys(target.lower() if v == source.lower() else v for v in value))
        elif not multi and isinstance(value, str) and value.lower() == source.lower():
            row.attributes[key] = target
        else:
            continue
        model.objects.filter(pk=row.pk).update(attributes=row.attributes)
        changed += 1
    return changed
