"""Saved audit searches: a user's named filter sets, per tenant. Reads and writes live together here
because the model is tiny; every write is audited like any other state change."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import QueryDict

from .audit import audit_record
from .filtersets import AuditEventFilterSet, RunFilterSet
from .models import SavedSearch

SCOPES = {"runs": RunFilterSet, "events": AuditEventFilterSet}
MAX_PER_USER = 50


def filter_query(scope: str, params: QueryDict) -> str:
    """Only the filter parameters of `scope`, url-encoded (never page cursors or unknown keys)."""
    if scope not in SCOPES:
        raise ValidationError({"scope": "Choose runs or audit events."})
    keep = QueryDict(mutable=True)
    for key in SCOPES[scope].base_filters:
        values = [v for v in params.getlist(key) if v.strip()]
        if values:
            keep.setlist(key, values)
    return keep.urlencode()


def saved_searches_for(user, tenant) -> QuerySet[SavedSearch]:
    return SavedSearch.objects.for_user(user, "audit.view").filter(tenant=tenant, user=user).order_by("name")


def saved_search_save(*, user, tenant, name: str, scope: str, params: QueryDict) -> SavedSearch:
    """Save the filters under `name`; saving again under the same name replaces them."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Give the search a name."})
    if len(name) > 100:
        raise ValidationError({"name": "Keep the name under 100 characters."})
    query = filter_query(scope, params)
    if len(query) > 2000:
        raise ValidationError({"name": "These filters are too long to save."})
    with transaction.atomic():
        existing = saved_searches_for(user, tenant).select_for_update().filter(name=name).first()
        if existing is None and saved_searches_for(user, tenant).count() >= MAX_PER_USER:
            raise ValidationError(
                {"name": f"You can keep up to {MAX_PER_USER} saved searches; delete one first."}
            )
        search, created = SavedSearch.objects.update_or_create(
            tenant=tenant, user=user, name=name, defaults={"scope": scope, "query": query}
        )
        audit_record(
            tenant=tenant,
            action="audit.search_saved" if created else "audit.search_updated",
            actor=user,
            target=search,
            summary=f"Saved search {name!r} ({scope})",
            data={"scope": scope, "query": query},
        )
    return search


def saved_search_delete(*, user, tenant, search_id: int) -> None:
    """SavedSearch.DoesNotExist (404) for anyone else's search."""
    with transaction.atomic():
        search = saved_searches_for(user, tenant).select_for_update().get(pk=search_id)
        audit_record(
            tenant=tenant,
            action="audit.search_deleted",
            actor=user,
            target=search,
            summary=f"Deleted saved search {search.name!r}",
            data={"scope": search.scope, "query": search.query},
        )
        search.delete()
