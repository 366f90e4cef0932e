"""Reusable helpers for tests that need real services: PostgreSQL, Redis, moto and a Celery worker.

`services` holds plain context managers (usable from scripts and benchmarks too); `fixtures` wraps them
as pytest fixtures that a test module imports explicitly.
"""
