"""Admin of population cohorts (edits audited, the nightly schedule included) and runs (read-only)."""

from django import forms
from django.contrib import admin

from audit.admin_mixins import AuditedAdminMixin, ReadOnlyAdminMixin
from population.models import Cohort, PopulationRun
from scoring.catalogue import definition


class CohortForm(forms.ModelForm):  # type: ignore[type-arg]
    """Refuses models the catalogue does not know."""

    class Meta:
        model = Cohort
        fields = [
            "title",
            "slug",
            "registration",
            "group_id",
            "model_names",
            "write_back",
            "schedule_enabled",
            "schedule_time",
            "chunk_size",
            "patient_url_template",
        ]

    def clean_patient_url_template(self) -> str:
        """Empty, or an http(s) URL with {patient_id} (never a javascript: link)."""
        text = str(self.cleaned_data["patient_url_template"]).strip()
        if text and (not text.startswith(("https://", "http://")) or "{patient_id}" not in text):
            raise forms.ValidationError("An http(s) URL with {patient_id} in it, or empty.")
        return text

    def clean_model_names(self) -> list[str]:
        """A non-empty list of catalogue model names."""
        names = self.cleaned_data["model_names"]
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise forms.ValidationError('List the models, e.g. ["sepsis", "news2"].')
        unknown = [n for n in names if definition(n) is None]
        if unknown:
            raise forms.ValidationError(f"Not in the model catalogue: {', '.join(unknown)}.")
        return names


@admin.register(Cohort)
class CohortAdmin(AuditedAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    form = CohortForm
    audit_reason_required = True
    list_display = ("title", "slug", "registration", "group_id", "schedule_enabled", "schedule_time", "write_back")
    prepopulated_fields = {"slug": ("title",)}


@admin.register(PopulationRun)
class PopulationRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "cohort",
        "status",
        "trigger",
        "incremental",
        "patients_scored",
        "patients_total",
        "started_at",
        "finished_at",
    )
    list_filter = ("cohort", "status")
