"""Serializer helpers shared by the API's apps.

DRF builds a ModelSerializer's fields by introspecting the model on every instantiation, which is most of
the cost of serializing one object (a run's detail builds four serializers per request). The fields of a
class never change between requests, so they are built once per class and copied for each instance.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime
from typing import ClassVar

from django.utils import timezone
from rest_framework import serializers


class CachedFieldsMixin:
    """Build a serializer class's fields once per process; each instance gets its own copies, bound to
    it, so per-request state (context, parent) is never shared. A plain field is copied shallowly (binding
    only assigns attributes; what it shares with the prototype, such as validators and choices, is only
    read when rendering), a nested serializer deeply (it owns fields of its own). For response
    serializers: input validation keeps DRF's own deep copies."""

    _fields_prototype: ClassVar[dict[type, dict]] = {}

    def get_fields(self):
        cls = type(self)
        prototype = CachedFieldsMixin._fields_prototype.get(cls)
        if prototype is None:
            prototype = CachedFieldsMixin._fields_prototype[cls] = super().get_fields()
        return {
            name: copy.deepcopy(field) if isinstance(field, serializers.BaseSerializer) else copy.copy(field)
            for name, field in prototype.items()
        }


class ReadModelSerializer(CachedFieldsMixin, serializers.ModelSerializer):
    """A ModelSerializer for responses, with its fields built once per class."""


def datetime_renderer() -> Callable[[datetime | None], str | None]:
    """Renders aware datetimes exactly as DRF's DateTimeField does (ISO 8601 in the current time zone,
    `Z` for UTC), for rows built without serializers. The time zone is looked up once per call of this
    function (a page), not once per value."""
    tz = timezone.get_current_timezone()

    def render(value: datetime | None) -> str | None:
        if value is None:
            return None
        text = value.astimezone(tz).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return render
