from django.urls import path

from . import views

urlpatterns = [
    path("me", views.MeView.as_view(), name="api_me"),
    path("configs/", views.ConfigListView.as_view(), name="api_config_list"),
    path("configs/select", views.ConfigSelectView.as_view(), name="api_config_select"),
    path("configs/<int:pk>/", views.ConfigDetailView.as_view(), name="api_config_detail"),
]
