"""Every ISO 3166-1 country (from pycountry) and its default sales region, by UN M49 grouping.

pycountry is the maintained packaging of the ISO 3166 tables (Debian's iso-codes) as plain data:
codes, English names and common names, which is all intake needs to recognise a country.
django-countries would add a model field and form widgets we do not use, and keeps its own
spellings of some names. Neither ships regions, so the grouping is here: the UN M49 sub-regions,
folded into the four sales regions the agreement speaks of (Europe, Africa and Western Asia are
EMEA; the rest of Asia and Oceania are APAC). Regions are data after seeding: editable per country.
"""

from __future__ import annotations

import re

import pycountry

# UN M49 sub-regions (intermediate regions folded in) → ISO 3166-1 alpha-2 codes.
M49_SUBREGIONS: dict[str, str] = {
    "Northern America": "BM CA GL PM US",
    "Latin America and the Caribbean": (
        "AG AI AW BB BL BQ BS CU CW DM DO GD GP HT JM KN KY LC MF MQ MS PR SX TC TT VC VG VI "
        "BZ CR GT HN MX NI PA SV AR BO BR BV CL CO EC FK GF GS GY PE PY SR UY VE"
    ),
    "Eastern Europe": "BG BY CZ HU MD PL RO RU SK UA",
    "Northern Europe": "AX DK EE FI FO GB GG IE IM IS JE LT LV NO SE SJ",
    "Southern Europe": "AD AL BA ES GI GR HR IT ME MK MT PT RS SI SM VA",
    "Western Europe": "AT BE CH DE FR LI LU MC NL",
    "Northern Africa": "DZ EG EH LY MA SD TN",
    "Sub-Saharan Africa": (
        "BI DJ ER ET IO KE KM MG MU MW MZ RE RW SC SO SS TF TZ UG YT ZM ZW "
        "AO CD CF CG CM GA GQ ST TD BW LS NA SZ ZA "
        "BF BJ CI CV GH GM GN GW LR ML MR NE NG SH SL SN TG"
    ),
    "Western Asia": "AE AM AZ BH CY GE IL IQ JO KW LB OM PS QA SA SY TR YE",
    "Central Asia": "KG KZ TJ TM UZ",
    "Eastern Asia": "CN HK JP KP KR MN MO TW",
    "South-eastern Asia": "BN ID KH LA MM MY PH SG TH TL VN",
    "Southern Asia": "AF BD BT IN IR LK MV NP PK",
    "Oceania": "AU CC CX HM NF NZ FJ NC PG SB VU FM GU KI MH MP NR PW UM AS CK NU PF PN TK TO TV WF WS",
}
SALES_REGION_OF_SUBREGION = {
    "Northern America": "North America",
    "Latin America and the Caribbean": "Latin America",
    "Eastern Europe": "EMEA",
    "Northern Europe": "EMEA",
    "Southern Europe": "EMEA",
    "Western Europe": "EMEA",
    "Northern Africa": "EMEA",
    "Sub-Saharan Africa": "EMEA",
    "Western Asia": "EMEA",
    "Central Asia": "APAC",
    "Eastern Asia": "APAC",
    "South-eastern Asia": "APAC",
    "Southern Asia": "APAC",
    "Oceania": "APAC",
}
_SUBREGION_OF = {code: sub for sub, codes in M49_SUBREGIONS.items() for code in codes.split()}
# Spellings people write that ISO does not list (ISO's own names and common names are read too).
EXTRA_ALIASES = {
    "GB": ["UK", "Great Britain", "England", "Scotland", "Wales", "Britain"],
    "US": ["USA", "U.S.A.", "U.S.", "United States of America", "America"],
    "AE": ["UAE"],
    "KR": ["Korea", "Republic of Korea"],
    "RU": ["Russia"],
    "CZ": ["Czech Republic"],
    "NL": ["Holland", "The Netherlands"],
}


def default_region(code: str) -> str:
    """The sales region of a country by its M49 sub-region; "" for Antarctica (no M49 region)."""
    return SALES_REGION_OF_SUBREGION.get(_SUBREGION_OF.get(code.upper(), ""), "")


def iso_countries() -> list[dict]:
    """Every ISO 3166-1 country as ``{code, name, aliases, region}`` (what the dictionary seeds)."""
    rows = []
    for country in pycountry.countries:
        name = getattr(country, "common_name", None) or country.name
        aliases = [country.name, getattr(country, "official_name", None), country.alpha_3]
        aliases += EXTRA_ALIASES.get(country.alpha_2, [])
        rows.append(
            {
                "code": country.alpha_2,
                "name": name,
                "aliases": sorted({a for a in aliases if a and a != name}),
                "region": default_region(country.alpha_2),
            }
        )
    return sorted(rows, key=lambda r: r["code"])


def fold(text: str) -> str:
    """How names are compared: case, spacing and punctuation do not matter ("u.s.a." is "usa")."""
    return re.sub(r"[\s_\-./,'()]+", " ", str(text).strip().lower()).replace(" ", "")
