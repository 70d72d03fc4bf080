"""Routes of the population API (under /api/population/)."""

from django.urls import path

from population import apis

app_name = "population_api"

urlpatterns = [
    path("cohorts", apis.CohortListApi.as_view(), name="cohorts"),
    path("cohorts/<slug:slug>", apis.CohortDetailApi.as_view(), name="cohort"),
    path("cohorts/<slug:slug>/runs", apis.CohortRunsApi.as_view(), name="cohort_runs"),
    path("cohorts/<slug:slug>/worklist", apis.WorklistApi.as_view(), name="worklist"),
    path("runs/<int:run_id>", apis.RunDetailApi.as_view(), name="run"),
    path("runs/<int:run_id>/cancel", apis.RunCancelApi.as_view(), name="run_cancel"),
]
