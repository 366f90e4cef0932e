import time
import pytest
from runs.api import serializers as s
from runs.selectors import runs_for_user
from runs.tests.factories import RunFactory

@pytest.mark.django_db
def test_split(own):
    for _ in range(60):
        RunFactory(config=own.dev, requested_by=own.user("operator"))
    user = own.user("admin")
    def fetch():
        return list(s.for_list(runs_for_user(user, tenant=own.tenant))[:51])
    rows = fetch()
    t = time.perf_counter()
    for _ in range(30): rows = fetch()
    q = (time.perf_counter() - t) / 30 * 1000
    t = time.perf_counter()
    for _ in range(30): s.RunSerializer(rows[:50], many=True).data
    ser = (time.perf_counter() - t) / 30 * 1000
    print(f"\nfetch {q:.1f} ms, serialize {ser:.1f} ms")
