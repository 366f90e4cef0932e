"""CloudTrail event history for the embedded sandbox.

moto keeps trails but no event history, and has no `LookupEvents`. Tests that need "who changed this
resource" seed events here, in the process that runs the sandbox, and `LookupEvents` then answers from
them as CloudTrail does: by one lookup attribute, within the time window, newest first, at most
MaxResults. An account and region with no seeded history answers as moto always has (the action is not
implemented), so a sandbox nobody seeded never claims a history it does not have.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

_ATTRIBUTES = {"ResourceName", "EventName", "Username", "EventSource", "EventId"}
_history: dict[tuple[str, str], list[dict[str, Any]]] = {}
_lock = threading.Lock()


def seed_events(account_id: str, region: str, events: Iterable[dict[str, Any]]) -> None:
    """Add events to the history of `account_id` in `region`. Each needs EventName, Username and
    EventTime (an aware datetime); EventSource, EventId and Resources ([{"ResourceName": ...}]) are
    optional. An empty iterable still turns the history on (CloudTrail answering with nothing)."""
    _install()
    stored = []
    for event in events:
        missing = {"EventName", "Username", "EventTime"} - set(event)
        if missing:
            raise ValueError(f"a CloudTrail event needs {', '.join(sorted(missing))}")
        if not isinstance(event["EventTime"], datetime) or event["EventTime"].tzinfo is None:
            raise ValueError("EventTime must be an aware datetime")
        stored.append({"EventId": str(uuid.uuid4()), "EventSource": "", "Resources": [], **event})
    with _lock:
        _history.setdefault((account_id, region), []).extend(stored)


def clear_events() -> None:
    with _lock:
        _history.clear()


def _install() -> None:
    from moto.cloudtrail.responses import CloudTrailResponse

    if getattr(CloudTrailResponse, "lookup_events", None) is not _lookup_events:
        CloudTrailResponse.lookup_events = _lookup_events


def _seconds(value: Any, default: float) -> float:
    return default if value is None else float(value)  # the JSON protocol sends epoch seconds


def _matches(event: dict[str, Any], key: str, value: str) -> bool:
    if key == "ResourceName":
        return any(r.get("ResourceName") == value for r in event["Resources"])
    return str(event.get(key, "")) == value


def _lookup_events(self) -> str:
    """The LookupEvents action, on moto's CloudTrail responder (`self` is the request's response)."""
    with _lock:
        history = _history.get((self.current_account, self.region))
        history = None if history is None else list(history)
    if history is None:
        raise NotImplementedError("The lookup_events action has not been implemented")
    attributes = self._get_param("LookupAttributes") or []
    if len(attributes) > 1 or any(a.get("AttributeKey") not in _ATTRIBUTES for a in attributes):
        from moto.core.exceptions import JsonRESTError

        raise JsonRESTError("InvalidLookupAttributesException", "one lookup attribute of a known key")
    start = _seconds(self._get_param("StartTime"), 0.0)
    end = _seconds(self._get_param("EndTime"), datetime.now(UTC).timestamp())
    found = [
        event
        for event in history
        if start <= event["EventTime"].timestamp() <= end
        and all(_matches(event, a["AttributeKey"], a.get("AttributeValue", "")) for a in attributes)
    ]
    found.sort(key=lambda event: event["EventTime"], reverse=True)
    limit = int(self._get_param("MaxResults") or 50)
    return json.dumps(
        {
            "Events": [
                {
                    **{k: v for k, v in event.items() if k != "EventTime"},
                    "EventTime": event["EventTime"].timestamp(),
                    "CloudTrailEvent": json.dumps({"eventName": event["EventName"]}),
                }
                for event in found[:limit]
            ]
        }
    )
