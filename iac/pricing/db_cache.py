"""The database-backed PriceCache: live prices survive restarts and are shared by every worker."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from iac.models import CachedPrice


class DatabasePriceCache:
    def get(self, key: str) -> str | None:
        row = CachedPrice.objects.filter(key=key, expires_at__gt=timezone.now()).only("value").first()
        return row.value if row else None

    def set(self, key: str, value: str, ttl_seconds: int) -> None:
        CachedPrice.objects.update_or_create(
            key=key, defaults={"value": value, "expires_at": timezone.now() + timedelta(seconds=ttl_seconds)}
        )
