from django.apps import AppConfig


class IacConfig(AppConfig):
    name = "iac"
    verbose_name = "Infrastructure as code"
