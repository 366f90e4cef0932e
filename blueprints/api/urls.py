from django.urls import path

from . import views

urlpatterns = [
    path("blueprints/", views.BlueprintListView.as_view(), name="api_blueprint_list"),
    path("blueprints/<int:pk>/", views.BlueprintDetailView.as_view(), name="api_blueprint_detail"),
]
