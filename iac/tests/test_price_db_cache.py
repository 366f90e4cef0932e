from datetime import timedelta

import pytest
from django.utils import timezone

from iac.models import CachedPrice
from iac.pricing.db_cache import DatabasePriceCache


@pytest.mark.django_db
def test_database_price_cache_round_trip_and_expiry():
    cache = DatabasePriceCache()
    assert cache.get("price:ec2:ap-south-1:t3.medium") is None
    cache.set("price:ec2:ap-south-1:t3.medium", "0.0448", ttl_seconds=60)
    assert cache.get("price:ec2:ap-south-1:t3.medium") == "0.0448"
    cache.set("price:ec2:ap-south-1:t3.medium", "0.05", ttl_seconds=60)
    assert CachedPrice.objects.count() == 1 and cache.get("price:ec2:ap-south-1:t3.medium") == "0.05"
    CachedPrice.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert cache.get("price:ec2:ap-south-1:t3.medium") is None
