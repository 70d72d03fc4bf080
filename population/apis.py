"""The population API for integrators (DRF): cohorts, runs (start, status, cancel) and worklist rows.

OpenAPI 3 at /api/schema/ (drf-spectacular). Django session authentication (CSRF on writes); permissions by
governance group (`audit.governance`): clinicians and admins read worklist rows, admins start and cancel runs,
auditors read cohorts and runs (not patient rows). Errors have the project's one shape (config/api_errors.py).
Reading worklist rows is audited, as every access to patient data (`population.services.reads`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.governance import ADMIN, AUDITOR, CLINICIAN
from population.models import Cohort, PatientResult, PopulationRun
from population.selectors import run_latest, worklist_filter, worklist_rows
from population.services.reads import worklist_read_audit
from population.services.runs import run_cancel, run_start

MAX_PAGE_SIZE = 500


class _InGroups(BasePermission):
    groups: ClassVar[tuple[str, ...]] = ()

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        return bool(user.is_superuser or user.groups.filter(name__in=self.groups).exists())


class ReadsCohorts(_InGroups):
    """Cohorts and runs: clinicians, admins, auditors."""

    groups = (CLINICIAN, ADMIN, AUDITOR)
    message = "Cohorts and runs are for the clinician, admin and auditor groups."


class ReadsRows(_InGroups):
    """Worklist rows (patient data): clinicians and admins."""

    groups = (CLINICIAN, ADMIN)
    message = "Worklist rows are for the clinician and admin groups."


class ManagesRuns(_InGroups):
    """Start and cancel runs: admins."""

    groups = (ADMIN,)
    message = "Starting and cancelling runs is for the admin group."


class _Api(APIView):
    authentication_classes = [SessionAuthentication]
    permission_classes = [ReadsCohorts]


class RunOutput(serializers.ModelSerializer[PopulationRun]):
    cohort: serializers.SlugRelatedField[Cohort] = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    duration_s = serializers.FloatField(allow_null=True)
    patients_per_minute = serializers.FloatField(allow_null=True)

    class Meta:
        model = PopulationRun
        fields = [
            "id",
            "cohort",
            "status",
            "trigger",
            "incremental",
            "since",
            "transaction_time",
            "progress",
            "patients_total",
            "patients_scored",
            "chunks_total",
            "chunks_done",
            "error",
            "created_at",
            "started_at",
            "finished_at",
            "duration_s",
            "patients_per_minute",
        ]


class CohortOutput(serializers.ModelSerializer[Cohort]):
    latest_run = serializers.SerializerMethodField()

    class Meta:
        model = Cohort
        fields = ["slug", "title", "group_id", "model_names", "schedule_enabled", "schedule_time", "latest_run"]

    def get_latest_run(self, cohort: Cohort) -> int | None:
        """The id of the cohort's latest completed run (its worklist)."""
        run = run_latest(cohort)
        return run.pk if run else None


class RowOutput(serializers.ModelSerializer[PatientResult]):
    class Meta:
        model = PatientResult
        fields = [
            "patient_id",
            "patient_name",
            "unit",
            "model_name",
            "model_version",
            "scored",
            "probability",
            "points",
            "band",
            "summary",
            "top_driver",
            "drivers",
            "reasons",
            "input_digest",
            "data_time",
            "previous_band",
            "delta",
            "band_change",
            "changed",
        ]


class CohortListApi(_Api):
    @extend_schema(responses=CohortOutput(many=True), operation_id="cohorts_list")
    def get(self, request: Request) -> Response:
        """Every cohort, with the id of its latest completed run."""
        return Response(CohortOutput(Cohort.objects.all(), many=True).data)


class CohortDetailApi(_Api):
    @extend_schema(responses=CohortOutput, operation_id="cohorts_read")
    def get(self, request: Request, slug: str) -> Response:
        """One cohort."""
        return Response(CohortOutput(get_object_or_404(Cohort, slug=slug)).data)


class RunStartInput(serializers.Serializer[Any]):
    since = serializers.ChoiceField(choices=["auto", "full"], default="auto")


class CohortRunsApi(_Api):
    def get_permissions(self) -> list[BasePermission]:
        return [ManagesRuns()] if self.request.method == "POST" else [ReadsCohorts()]

    @extend_schema(responses=RunOutput(many=True), operation_id="runs_list")
    def get(self, request: Request, slug: str) -> Response:
        """The cohort's last 50 runs, newest first."""
        cohort = get_object_or_404(Cohort, slug=slug)
        return Response(RunOutput(cohort.runs.all()[:50], many=True).data)

    @extend_schema(request=RunStartInput, responses={202: RunOutput}, operation_id="runs_start")
    def post(self, request: Request, slug: str) -> Response:
        """Start a run now (409 when one is in progress); poll the run for its status."""
        cohort = get_object_or_404(Cohort, slug=slug)
        data = RunStartInput(data=request.data)
        data.is_valid(raise_exception=True)
        run = run_start(cohort=cohort, since=data.validated_data["since"])
        return Response(RunOutput(run).data, status=202)


class RunDetailApi(_Api):
    @extend_schema(responses=RunOutput, operation_id="runs_read")
    def get(self, request: Request, run_id: int) -> Response:
        """A run's status and progress."""
        return Response(RunOutput(get_object_or_404(PopulationRun, pk=run_id)).data)


class RunCancelApi(_Api):
    permission_classes = [ManagesRuns]

    @extend_schema(request=None, responses=RunOutput, operation_id="runs_cancel")
    def post(self, request: Request, run_id: int) -> Response:
        """Cancel a run in progress (its export at the EHR too); 409 when it has ended."""
        return Response(RunOutput(run_cancel(get_object_or_404(PopulationRun, pk=run_id))).data)


class WorklistPage(serializers.Serializer[Any]):
    run = serializers.IntegerField(allow_null=True)
    model = serializers.CharField()
    count = serializers.IntegerField()
    page = serializers.IntegerField()
    pages = serializers.IntegerField()
    results = RowOutput(many=True)


_WORKLIST_PARAMETERS = [
    OpenApiParameter("model", str, description="a model of the cohort (default: its first)"),
    OpenApiParameter("band", str, enum=["high", "moderate", "low"]),
    OpenApiParameter("unit", str, description="the unit (location of the latest encounter)"),
    OpenApiParameter("changed", str, enum=["1"], description="only rows that changed since the previous run"),
    OpenApiParameter("page", int),
    OpenApiParameter("page_size", int, description=f"rows per page, at most {MAX_PAGE_SIZE} (default 100)"),
]


class WorklistApi(_Api):
    permission_classes = [ReadsRows]

    @extend_schema(parameters=_WORKLIST_PARAMETERS, responses=WorklistPage, operation_id="worklist_read")
    def get(self, request: Request, slug: str) -> Response:
        """The ranked worklist of the cohort's latest completed run, filtered and paged (highest risk first)."""
        cohort = get_object_or_404(Cohort, slug=slug)
        run, wanted = run_latest(cohort), worklist_filter(request.query_params, cohort)
        rows = worklist_rows(run, wanted) if run else PatientResult.objects.none()
        page = Paginator(rows, _page_size(request)).get_page(request.query_params.get("page"))
        worklist_read_audit(
            actor=request.user.get_username(), cohort=cohort, run=run, wanted=wanted, rows=len(page), via="api"
        )
        return Response(
            {
                "run": run.pk if run else None,
                "model": wanted.model,
                "count": page.paginator.count,
                "page": page.number,
                "pages": page.paginator.num_pages,
                "results": RowOutput(list(page.object_list), many=True).data,
            }
        )


def _page_size(request: Request) -> int:
    text = request.query_params.get("page_size", "")
    return max(1, min(MAX_PAGE_SIZE, int(text))) if text.isdigit() else 100
