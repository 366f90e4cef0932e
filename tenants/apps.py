from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Tenants and AWS accounts"

    def ready(self) -> None:
        from . import audit_hooks  # noqa: F401  (records sign-in and MFA events)
