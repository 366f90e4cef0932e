"""The console."""

from django.urls import path

from . import views

urlpatterns = [
    path("console/", views.ConsoleView.as_view(), name="console"),
    path("console/preview", views.ConsolePreviewView.as_view(), name="console_preview"),
]
