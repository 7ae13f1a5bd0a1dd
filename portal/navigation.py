"""The top navigation: one list, each entry shown only to the roles that may open it.

Entries whose URL does not exist (an app not installed in this build) are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse

from portal.access import EVERYONE, LEADERS, Role, has_role, user_roles


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    roles: tuple
    icon: str


NAV: tuple[NavItem, ...] = (
    NavItem("Overview", "leads:overview", EVERYONE, "speedometer2"),
    NavItem("Agreement", "alignment:agreement", EVERYONE, "file-earmark-check"),
    NavItem("Personas", "alignment:persona_list", EVERYONE, "people"),
    NavItem("Inbox", "leads:inbox", (Role.SDR, Role.MANAGER), "inbox"),
    NavItem("Leads", "leads:lead_list", EVERYONE, "person-lines-fill"),
    NavItem("Import", "leads:import_upload", (Role.MARKETING,), "upload"),
    NavItem("Data", "leads:data", EVERYONE, "database"),
    NavItem("Rejected", "leads:rejected_list", LEADERS, "arrow-return-left"),
    NavItem("SLA", "sla:dashboard", (Role.MANAGER, *LEADERS, Role.SDR), "graph-up"),  # SDRs: their own figures
    NavItem("Reports", "sla:report_list", (Role.MANAGER, *LEADERS), "journal-text"),
    NavItem("Team", "leads:team_list", (Role.MANAGER,), "people-fill"),
)

# Where each role lands after login, first existing URL wins; everyone falls back to the overview.
HOME_BY_ROLE: tuple[tuple[str, str], ...] = (
    (Role.MARKETING, "alignment:agreement"),
    (Role.SALES, "alignment:agreement"),
    (Role.MANAGER, "sla:dashboard"),
    (Role.SDR, "leads:inbox"),
)


_RESOLVED: dict[tuple, str | None] = {}


def _reverse_or_none(url_name: str) -> str | None:
    """``reverse(url_name)``, or None when it does not exist; resolved once per process.

    Every page's navigation needs up to eight of these; the URL of a name without arguments only
    changes with the URLconf or the script prefix, which are part of the key.
    """
    key = (url_name, get_script_prefix(), get_urlconf())
    if key not in _RESOLVED:
        try:
            _RESOLVED[key] = reverse(url_name)
        except NoReverseMatch:
            _RESOLVED[key] = None
    return _RESOLVED[key]


def home_url_for(user) -> str:
    roles = user_roles(user)
    for role, url_name in HOME_BY_ROLE:
        if role.value in roles:
            url = _reverse_or_none(url_name)
            if url:
                return url
    return reverse("leads:overview")


def navigation(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    items = []
    for item in NAV:
        if not has_role(user, *item.roles):
            continue
        url = _reverse_or_none(item.url_name)
        if url is None:
            continue
        items.append({"label": item.label, "url": url, "icon": item.icon, "active": False})
    # Highlight one entry: the longest URL that prefixes the current path (/leads/inbox/ beats /leads/).
    matching = [i for i in items if request.path.startswith(i["url"])]
    if matching:
        max(matching, key=lambda i: len(i["url"]))["active"] = True
    return {"nav_items": items, "user_role_names": sorted(user_roles(user))}
