import cProfile, pstats, time
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient
from runs.tests.factories import RunFactory
from tenants.tokens import token_create

@pytest.mark.django_db
def test_profile(own):
    for _ in range(60):
        RunFactory(config=own.dev, requested_by=own.user("operator"))
    _, raw = token_create(user=own.user("admin"), tenant=own.tenant, name="p", role="viewer")
    c = APIClient(); c.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    c.get("/api/v1/runs/?page_size=50")
    with CaptureQueriesContext(connection) as q:
        c.get("/api/v1/runs/?page_size=50")
    print("queries", len(q.captured_queries))
    for x in q.captured_queries: print(x["sql"][:160])
    t = time.perf_counter()
    for _ in range(20): c.get("/api/v1/runs/?page_size=50")
    print("ms per list", (time.perf_counter() - t) / 20 * 1000)
    pr = cProfile.Profile(); pr.enable()
    for _ in range(10): c.get("/api/v1/runs/?page_size=50")
    pr.disable(); pstats.Stats(pr).sort_stats("tottime").print_stats(25)
