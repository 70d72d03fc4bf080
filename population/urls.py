"""Routes of population: worklist pages per cohort."""

from django.urls import path

from population import views

app_name = "population"

urlpatterns = [
    path("<slug:slug>/", views.worklist, name="worklist"),
    path("<slug:slug>/worklist.csv", views.worklist_csv, name="worklist_csv"),
    path("<slug:slug>/run", views.run_now, name="run_now"),
    path("<slug:slug>/dashboard", views.dashboard, name="dashboard"),
    path("<slug:slug>/progress.json", views.progress, name="progress"),
]
