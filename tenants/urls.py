from django.urls import path

from . import token_views, views

urlpatterns = [
    path("tenants/choose/", views.TenantChooseView.as_view(), name="tenant_choose"),
    path("tenants/create/", views.TenantCreateView.as_view(), name="tenant_create"),
    path("tenants/join/", views.TenantJoinView.as_view(), name="tenant_join"),
    path("tenants/settings/", views.TenantSettingsView.as_view(), name="tenant_settings"),
    path("context/switch/", views.ContextSwitchView.as_view(), name="context_switch"),
    path("aws-accounts/", views.AccountListView.as_view(), name="account_list_aws"),
    path("aws-accounts/new/", views.AccountCreateView.as_view(), name="aws_account_create"),
    path("aws-accounts/<int:pk>/", views.AccountDetailView.as_view(), name="aws_account_detail"),
    path("aws-accounts/<int:pk>/edit/", views.AccountUpdateView.as_view(), name="aws_account_edit"),
    path("aws-accounts/<int:pk>/delete/", views.AccountDeleteView.as_view(), name="aws_account_delete"),
    path("aws-accounts/<int:pk>/verify/", views.AccountVerifyView.as_view(), name="aws_account_verify"),
    path("configs/", views.ConfigListView.as_view(), name="config_list"),
    path("configs/new/", views.ConfigCreateView.as_view(), name="config_create"),
    path("configs/<int:pk>/", views.ConfigDetailView.as_view(), name="config_detail"),
    path("configs/<int:pk>/edit/", views.ConfigUpdateView.as_view(), name="config_edit"),
    path("configs/<int:pk>/delete/", views.ConfigDeleteView.as_view(), name="config_delete"),
    path("configs/<int:pk>/grants/", views.ConfigGrantView.as_view(), name="config_grant"),
    path("members/", views.MemberListView.as_view(), name="member_list"),
    path("members/<int:pk>/role/", views.MemberRoleView.as_view(), name="member_role"),
    path("members/<int:pk>/remove/", views.MemberRemoveView.as_view(), name="member_remove"),
    path("invitations/", views.InvitationListView.as_view(), name="invitation_list"),
    path("invitations/<int:pk>/revoke/", views.InvitationRevokeView.as_view(), name="invitation_revoke"),
    path("settings/tokens/", token_views.TokenListView.as_view(), name="token_list"),
    path("settings/tokens/<int:pk>/revoke/", token_views.TokenRevokeView.as_view(), name="token_revoke"),
]
