"""Platform-wide IaC data: the live price cache (prices are public, not tenant data)."""

from django.db import models


class CachedPrice(models.Model):
    """One AWS Price List API answer (or a remembered miss), kept until `expires_at`."""

    key = models.CharField(max_length=255, unique=True)
    value = models.TextField()
    expires_at = models.DateTimeField(db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.key
