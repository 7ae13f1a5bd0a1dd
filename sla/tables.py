"""Each chart's data as a table: the accessible twin of the chart, its CSV export and its drill-down links.

One definition per chart, so the canvas, the HTML table and the CSV can never disagree.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = [
    "TABLE_KEYS",
    "Column",
    "Table",
    "chart_data",
    "chart_tables",
]

# Column kinds tell the template how to print a raw value: int, pct (0–1), hours, text.
Column = tuple[str, str]


@dataclass
class Table:
    key: str
    title: str
    caption: str
    columns: list[Column]
    rows: list[list] = field(default_factory=list)
    links: list[str | None] = field(default_factory=list)

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([label for label, _ in self.columns])
        for row in self.rows:
            writer.writerow(["" if v is None else v for v in row])
        return out.getvalue()


TABLE_KEYS = ("funnel", "response", "breaches_by_sdr", "rejections", "recycles", "trends", "sdrs")


def chart_tables(figures: dict, drill: Callable[..., str]) -> dict[str, Table]:
    """``drill(metric, **keys)`` returns the URL of the leads behind one figure."""
    tables: dict[str, Table] = {}

    funnel = Table(
        "funnel",
        "Funnel",
        "Moves into each stage within the range; recycled leads that come back count again.",
        [("Stage", "text"), ("Count", "int"), ("Conversion from previous stage", "pct")],
    )
    for step in figures["funnel"]:
        funnel.rows.append([step["label"], step["count"], step["conversion"]])
        funnel.links.append(drill("mqls") if step["stage"] == "mql" else drill(step["stage"]))
    tables["funnel"] = funnel

    response = Table(
        "response",
        "Time to first action",
        "First actions by the share of their grade's response target used; over 100 % is a breach.",
        [("Share of target used", "text"), ("First actions", "int"), ("Over target", "text")],
    )
    for bucket in figures["distribution"]:
        response.rows.append([bucket["label"], bucket["count"], "yes" if bucket["over_target"] else "no"])
        response.links.append(drill("bucket", bucket=bucket["index"]))
    tables["response"] = response

    by_sdr = Table(
        "breaches_by_sdr",
        "Breaches by SDR",
        "MQLs of the range whose response time exceeded the target, by the SDR who owned them.",
        [("SDR", "text"), ("Breaches", "int"), ("MQLs", "int"), ("Within target", "pct")],
    )
    for sdr in figures["sdrs"]:  # worst offenders first (sla.views names and sorts them)
        if not sdr["passes"]:
            continue
        by_sdr.rows.append([sdr["name"], sdr["breaches"], sdr["passes"], sdr["within_target_rate"]])
        by_sdr.links.append(drill("breached", sdr=sdr["id"] if sdr["id"] is not None else "none"))
    tables["breaches_by_sdr"] = by_sdr

    for key, kind, title, metric in (
        ("rejections", "rejected", "Rejection reasons", "rejected"),
        ("recycles", "recycled", "Recycle reasons", "recycled"),
    ):
        table = Table(
            key,
            title,
            f"Reason codes SDRs gave when they {kind} an MQL, most frequent first (Pareto).",
            [("Reason", "text"), ("Count", "int"), ("Share", "pct"), ("Cumulative share", "pct")],
        )
        for reason in figures["reasons"][kind]:
            table.rows.append([reason["label"], reason["count"], reason["share"], reason["cumulative"]])
            table.links.append(drill(metric, reason=reason["code"]))
        tables[key] = table

    trends = Table(
        "trends",
        "12-week trends",
        "MQLs per ISO week, the share accepted and the median business hours to the first action.",
        [
            ("Week", "text"),
            ("MQLs", "int"),
            ("Accepted", "int"),
            ("Acceptance rate", "pct"),
            ("Median hours to first action", "hours"),
            ("Breaches", "int"),
        ],
    )
    for week in figures["trends"]:
        trends.rows.append(
            [
                week["week"],
                week["mqls"],
                week["accepted"],
                week["acceptance_rate"],
                week["median_hours"],
                week["breaches"],
            ]
        )
        trends.links.append(drill("mqls", week=week["index"]))
    tables["trends"] = trends

    sdrs = Table(
        "sdrs",
        "Per SDR",
        "Each SDR's MQLs of the range and their first actions; open figures are as of now.",
        [
            ("SDR", "text"),
            ("MQLs", "int"),
            ("Accepted", "int"),
            ("Rejected", "int"),
            ("Recycled", "int"),
            ("Acceptance rate", "pct"),
            ("Median hours", "hours"),
            ("P90 hours", "hours"),
            ("Breaches", "int"),
            ("Open now", "int"),
            ("At risk now", "int"),
        ],
    )
    for sdr in figures["sdrs"]:
        sdrs.rows.append(
            [
                sdr["name"],
                sdr["passes"],
                sdr["accepted"],
                sdr["rejected"],
                sdr["recycled"],
                sdr["acceptance_rate"],
                sdr["median_hours"],
                sdr["p90_hours"],
                sdr["breaches"],
                sdr["open_now"],
                sdr["at_risk_now"],
            ]
        )
        sdrs.links.append(drill("mqls", sdr=sdr["id"] if sdr["id"] is not None else "none"))
    tables["sdrs"] = sdrs
    return tables


def chart_data(tables: dict[str, Table]) -> dict:
    """What ``static/js/sla.js`` draws: labels, values and the drill-down URL of every bar or point."""
    funnel, response = tables["funnel"], tables["response"]
    by_sdr, trends = tables["breaches_by_sdr"], tables["trends"]

    def pareto(table: Table) -> dict:
        return {
            "labels": [r[0] for r in table.rows],
            "counts": [r[1] for r in table.rows],
            "cumulative": [round((r[3] or 0) * 100, 1) for r in table.rows],
            "links": table.links,
        }

    return {
        "funnel": {
            "labels": [r[0] for r in funnel.rows],
            "counts": [r[1] for r in funnel.rows],
            "links": funnel.links,
        },
        "response": {
            "labels": [r[0] for r in response.rows],
            "counts": [r[1] for r in response.rows],
            "over": [r[2] == "yes" for r in response.rows],
            "links": response.links,
        },
        "breaches_by_sdr": {
            "labels": [r[0] for r in by_sdr.rows],
            "counts": [r[1] for r in by_sdr.rows],
            "links": by_sdr.links,
        },
        "rejections": pareto(tables["rejections"]),
        "recycles": pareto(tables["recycles"]),
        "trends": {
            "labels": [r[0] for r in trends.rows],
            "mqls": [r[1] for r in trends.rows],
            "acceptance": [round(r[3] * 100, 1) if r[3] is not None else None for r in trends.rows],
            "median_hours": [r[4] for r in trends.rows],
            "links": trends.links,
        },
    }
