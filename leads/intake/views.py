"""CSV import pages (marketing leaders): upload → mapping → preview → import → result, and the history."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRefresh

from alignment.dictionary import TYPE_LABELS, load_dictionary
from alignment.dictionary_services import DictionaryError
from leads.intake import importing
from leads.models import ImportJob
from portal.access import Role, role_required
from portal.downloads import csv_download
from portal.params import page_number

ImportStatus = ImportJob.Status


class UploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="UTF-8 or Latin-1, separated by commas, semicolons or tabs; the first line names the columns.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,.tsv,text/csv", "class": "form-control"}),
    )


class MappingForm(forms.Form):
    """One select per column of the file: which field or attribute it holds, a new attribute made
    from it (with the type its values suggest), or ignore it."""

    def __init__(self, *args, header: list[str], initial_columns: list[str], guessed=(), dictionary=None, **kwargs):
        super().__init__(*args, **kwargs)
        fields = [(t.key, t.label) for t in importing.TARGETS]
        own = [
            (f"{importing.ATTR_PREFIX}{a.key}", f"{a.label} ({a.object})")
            for a in (dictionary.live_attributes() if dictionary else [])
            if not a.builtin
        ]
        for index, name in enumerate(header):
            kind = guessed[index] if index < len(guessed) else "text"
            new = [
                (f"{importing.NEW_PREFIX}{t}", f"New attribute from this column: {label.lower()}")
                for t, label in TYPE_LABELS.items()
            ]
            new.sort(key=lambda choice: choice[0] != f"{importing.NEW_PREFIX}{kind}")  # the guess first
            choices = [
                ("", "— ignore this column —"),
                ("Fields", fields),
                *([("Your attributes", own)] if own else []),
                ("Create an attribute", new),
            ]
            self.fields[f"col_{index}"] = forms.ChoiceField(
                label=name or f"Column {index + 1}",
                choices=choices,
                required=False,
                initial=initial_columns[index] if index < len(initial_columns) else "",
                widget=forms.Select(attrs={"class": "form-select form-select-sm"}),
            )
        self.column_count = len(header)

    def columns(self) -> list[str]:
        return [self.cleaned_data.get(f"col_{i}", "") for i in range(self.column_count)]

    def clean(self):
        cleaned = super().clean()
        problems = importing.mapping_problems(self.columns())
        if problems:
            raise forms.ValidationError(problems)
        return cleaned


def _job(pk: int) -> ImportJob:
    return get_object_or_404(ImportJob.objects.select_related("created_by"), pk=pk)


def _detail_redirect(job: ImportJob) -> HttpResponse:
    return redirect("leads:import_detail", pk=job.pk)


@role_required(Role.MARKETING)
@require_http_methods(["GET", "POST"])
def import_upload(request: HttpRequest) -> HttpResponse:
    """Step 1: choose a file. The page explains the columns and offers a template."""
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = importing.import_job_create(upload=form.cleaned_data["file"], user=request.user)
        except importing.ImportProblem as exc:
            form.add_error("file", str(exc))
        else:
            return redirect("leads:import_mapping", pk=job.pk)
    recent = ImportJob.objects.select_related("created_by")[:5]
    return render(
        request,
        "leads/import_upload.html",
        {"form": form, "targets": importing.TARGETS, "recent": recent, "sync_limit": importing.sync_row_limit()},
    )


@role_required(Role.MARKETING)
@require_GET
def import_template(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(importing.sample_csv(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="accord-leads-template.csv"'
    return response


@role_required(Role.MARKETING)
@require_http_methods(["GET", "POST"])
def import_mapping(request: HttpRequest, pk: int) -> HttpResponse:
    """Step 2: which column holds which field, guessed from the header and editable."""
    job = _job(pk)
    if job.status not in (ImportStatus.UPLOADED, ImportStatus.MAPPED):
        messages.info(request, "This file is already being imported; its mapping cannot change.")
        return _detail_redirect(job)
    header = importing.job_header(job)
    dictionary = load_dictionary()
    counts = importing.column_values(job, range(len(header))) if request.method == "GET" else {}
    guessed = [importing.guess_type(counts[i]) if i in counts else "text" for i in range(len(header))]
    form = MappingForm(
        request.POST or None,
        header=header,
        initial_columns=importing.job_columns(job),
        guessed=guessed,
        dictionary=dictionary,
    )
    if request.method == "POST" and form.is_valid():
        try:
            job = importing.import_job_map(job=job, columns=form.columns())
        except importing.ImportProblem as exc:
            form.add_error(None, str(exc))
        else:
            step = "leads:import_values" if importing.needs_value_step(job, dictionary) else "leads:import_preview"
            return redirect(step, pk=job.pk)
    samples = [values for _, values in zip(range(3), importing.iter_rows(job), strict=False)]
    rows = [
        {
            "field": form[f"col_{i}"],
            "samples": [s[1][i] if i < len(s[1]) else "" for s in samples],
        }
        for i in range(len(header))
    ]
    return render(request, "leads/import_mapping.html", {"job": job, "form": form, "rows": rows, **_file_facts(job)})


@role_required(Role.MARKETING)
@require_http_methods(["GET", "POST"])
def import_values(request: HttpRequest, pk: int) -> HttpResponse:
    """Step 2b: for every choice column, what each distinct value means: an existing choice, a new
    choice, or unknown. What is chosen is remembered for the next import of the column."""
    job = _job(pk)
    if job.status not in (ImportStatus.UPLOADED, ImportStatus.MAPPED):
        return _detail_redirect(job)
    dictionary = load_dictionary()
    steps = importing.value_step(job, dictionary)
    if request.method == "POST":
        decisions = {
            step["index"]: {
                row.value: request.POST.get(f"v_{step['index']}_{n}", row.suggestion)
                for n, row in enumerate(step["rows"])
            }
            for step in steps
        }
        try:
            importing.import_job_values(job=job, decisions=decisions, user=request.user)
        except (importing.ImportProblem, DictionaryError) as exc:
            messages.error(request, str(exc))
        else:
            return redirect("leads:import_preview", pk=job.pk)
    return render(
        request,
        "leads/import_values.html",
        {"job": job, "steps": steps, "add": importing.ADD_CHOICE, **_file_facts(job)},
    )


def _file_facts(job: ImportJob) -> dict:
    return {
        "encoding_label": importing.ENCODING_LABELS.get(job.encoding, job.encoding),
        "delimiter_label": importing.DELIMITER_LABELS.get(job.delimiter, repr(job.delimiter)),
        "earlier": ImportJob.objects.filter(sha256=job.sha256, status=ImportStatus.DONE).exclude(pk=job.pk).first(),
    }


@role_required(Role.MARKETING)
@require_GET
def import_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """Step 3: the first rows as they will be imported, each checked; then the Import button."""
    job = _job(pk)
    if job.status == ImportStatus.UPLOADED:
        return redirect("leads:import_mapping", pk=job.pk)
    if job.status != ImportStatus.MAPPED:
        return _detail_redirect(job)
    dictionary = load_dictionary()
    if importing.needs_value_step(job, dictionary):
        return redirect("leads:import_values", pk=job.pk)
    header, columns = importing.job_header(job), importing.job_columns(job)
    mapped = [(i, {"label": importing.target_label(key, dictionary)}) for i, key in enumerate(columns) if key]
    # A full check is quick for ordinary files; very large ones are checked as they import.
    first, invalid = importing.preview(job, count_invalid=job.total_rows <= 20_000)
    rows = []
    for values, result in first:
        bad = dict(result.errors)
        rows.append(
            {
                "line": result.line,
                "ok": result.ok,
                "errors": result.errors,
                "cells": [
                    {
                        "value": values[i] if i < len(values) else "",
                        "error": bad.get(header[i] if i < len(header) else ""),
                    }
                    for i, _ in mapped
                ],
            }
        )
    return render(
        request,
        "leads/import_preview.html",
        {
            "job": job,
            "mapped": mapped,
            "rows": rows,
            "invalid": invalid,
            "valid": None if invalid is None else job.total_rows - invalid,
            "background": importing.runs_in_background(job),
            **_file_facts(job),
        },
    )


@role_required(Role.MARKETING)
@require_POST
def import_run(request: HttpRequest, pk: int) -> HttpResponse:
    """Step 4: import. Small files now; large ones in the background with a live progress bar."""
    job = _job(pk)
    try:
        background = importing.import_job_start(job=job)
    except importing.ImportProblem as exc:
        messages.warning(request, str(exc))
        return _detail_redirect(job)
    if background:
        messages.info(request, f"Importing {job.total_rows:,} rows in the background; this page follows its progress.")
    return _detail_redirect(job)


@role_required(Role.MARKETING)
@require_GET
def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job(pk)
    if job.status in (ImportStatus.UPLOADED, ImportStatus.MAPPED):
        return redirect("leads:import_preview" if job.status == ImportStatus.MAPPED else "leads:import_mapping", pk=pk)
    page = Paginator(job.errors, 50).get_page(page_number(request))
    return render(request, "leads/import_detail.html", {"job": job, "page": page, **_progress(job)})


def _progress(job: ImportJob) -> dict:
    percent = round(100 * job.processed_rows / job.total_rows) if job.total_rows else 100
    return {
        "job": job,
        "percent": 100 if job.status == ImportStatus.DONE else min(percent, 99),
        "running": job.status == ImportStatus.RUNNING,
        "activities_stored": job.mapping.get("activities_stored", 0),
        # Rows naming a lead that already held exactly these values (e.g. the same file again).
        "unchanged": max(0, job.processed_rows - job.error_count - job.created_count - job.updated_count),
        "errors_shown": min(len(job.errors), importing.MAX_STORED_ERRORS),
    }


@role_required(Role.MARKETING)
@require_GET
def import_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The progress card, polled by htmx every second while the import runs; reloads the page when done."""
    job = _job(pk)
    if job.status != ImportStatus.RUNNING and request.GET.get("was") == "running":
        return HttpResponseClientRefresh()
    return render(request, "leads/import_progress.html", _progress(job))


@role_required(Role.MARKETING)
@require_GET
def import_errors(request: HttpRequest, pk: int) -> HttpResponse:
    """The rows that could not be imported, as a CSV to fix and upload again (line + errors + original columns)."""
    job = _job(pk)
    if job.status in (ImportStatus.UPLOADED,):
        return redirect("leads:import_mapping", pk=pk)
    stem = job.original_name.rsplit(".", 1)[0] or "import"
    return csv_download(importing.invalid_rows_csv(job), f"{stem}-rows-to-fix.csv")


@role_required(Role.MARKETING)
@require_GET
def import_history(request: HttpRequest) -> HttpResponse:
    jobs = ImportJob.objects.select_related("created_by").order_by("-created_at", "-id")
    page = Paginator(jobs, 25).get_page(page_number(request))
    return render(request, "leads/import_history.html", {"page": page, "upload_url": reverse("leads:import_upload")})
