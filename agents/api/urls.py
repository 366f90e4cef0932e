from django.urls import path

from . import views

urlpatterns = [path("nl/intent", views.IntentView.as_view(), name="api_nl_intent")]
