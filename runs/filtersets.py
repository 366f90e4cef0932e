"""Filters of the audit search over runs and audit events.

The audit page, its CSV export and the REST API narrow the scoped querysets of
`runs.selectors.audit_runs_for_user` / `audit_events_for_user` with these filtersets, so the three show
exactly the same rows. Every choice field is itself scoped to what the requesting user may see, so an id
from another tenant is a validation error, never a silent match.

Query parameters (both lists): `user`, `account`, `config`, `agent`, `status` (repeatable), `action`,
`created_after`, `created_before` (dates, inclusive, in the portal's time zone) and `q` (free text).
Runs also take `kind`.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from tenants.models import AwsAccount, Config

from .models import AuditEvent, Run, RunKind
from .states import RunStatus

AUDIT_ACTION = "audit.view"
ACTION_PATTERN = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?$")
RUN_ID_PATTERN = re.compile(r"^#?(\d{1,12})$")
ACTION_INPUT = forms.TextInput(attrs={"list": "audit-actions", "placeholder": "run.approval.*"})


def request_tenant(request):
    """The tenant a request works in: the portal's active tenant, or an API token's tenant."""
    gantry = getattr(request, "gantry", None)
    if gantry is not None and getattr(gantry, "tenant", None) is not None:
        return gantry.tenant
    return getattr(getattr(request, "auth", None), "tenant", None)


def _scoped(model, request) -> QuerySet:
    if request is None:
        return model.objects.none()
    qs = model.objects.for_user(request.user, AUDIT_ACTION)
    tenant = request_tenant(request)
    return qs.filter(tenant=tenant) if tenant is not None else qs


def _configs(request) -> QuerySet[Config]:
    return _scoped(Config, request).order_by("name")


def _accounts(request) -> QuerySet[AwsAccount]:
    return _scoped(AwsAccount, request).order_by("name")


def _users(request) -> QuerySet:
    """Members of the tenants whose audit the user may read (people who left keep their rows, but are no
    longer offered as a filter)."""
    User = get_user_model()
    if request is None or not request.user.is_authenticated:
        return User.objects.none()
    from tenants.models import memberships_allowing

    tenants = memberships_allowing(request.user, AUDIT_ACTION)
    tenant = request_tenant(request)
    members = User.objects.filter(memberships__tenant__in=tenants)
    if tenant is not None:
        members = members.filter(memberships__tenant=tenant)
    return members.distinct().order_by("email")


def day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


class AuditFilterForm(forms.Form):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():  # Bootstrap classes, so the page renders the form as is
            widget = field.widget
            css = (
                "form-select form-select-sm"
                if isinstance(widget, forms.Select)
                else "form-control form-control-sm"
            )
            widget.attrs.setdefault("class", css)
            if isinstance(widget, forms.SelectMultiple):
                widget.attrs.setdefault("size", 4)

    def clean(self):
        data = super().clean()
        after, before = data.get("created_after"), data.get("created_before")
        if after and before and after > before:
            self.add_error("created_before", "The end date is before the start date.")
        return data


class UserChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return obj.email or obj.get_username()


class UserFilter(django_filters.ModelChoiceFilter):
    field_class = UserChoiceField


class AuditFilterSet(django_filters.FilterSet):
    """What both lists share: the date range (index-friendly half-open interval on created_at)."""

    created_after = django_filters.DateFilter(
        label="From", method="filter_created_after", widget=forms.DateInput(attrs={"type": "date"})
    )
    created_before = django_filters.DateFilter(
        label="To", method="filter_created_before", widget=forms.DateInput(attrs={"type": "date"})
    )

    class Meta:
        form = AuditFilterForm

    def filter_created_after(self, queryset: QuerySet, name: str, value: date) -> QuerySet:
        return queryset.filter(created_at__gte=day_start(value))

    def filter_created_before(self, queryset: QuerySet, name: str, value: date) -> QuerySet:
        return queryset.filter(created_at__lt=day_start(value + timedelta(days=1)))

    @property
    def active_filters(self) -> dict[str, object]:
        """The filters that narrowed the list (for chips, saved searches and the export's audit event)."""
        if not self.is_bound or not self.is_valid():
            return {}
        return {
            key: value
            for key, value in self.form.cleaned_data.items()
            if value not in (None, "", [], ()) and key in self.filters
        }


def action_q(value: str, field: str = "action") -> Q:
    """`run.approval.approve` matches exactly; `run.approval.*` matches the whole family."""
    if value.endswith(".*"):
        return Q(**{f"{field}__startswith": value[:-1]})
    return Q(**{field: value})


def validate_action(value: str) -> None:
    if not ACTION_PATTERN.match(value):
        raise forms.ValidationError("An action looks like run.applied or run.approval.* (for a family).")


class RunFilterSet(AuditFilterSet):
    user = UserFilter(label="Requested by", field_name="requested_by", queryset=_users)
    account = django_filters.ModelChoiceFilter(
        label="AWS account", field_name="config__account", queryset=_accounts
    )
    config = django_filters.ModelChoiceFilter(label="Config", queryset=_configs)
    agent = django_filters.CharFilter(
        label="Agent", max_length=64, widget=forms.TextInput(attrs={"list": "audit-agents"})
    )
    # distinct=False: django-filter's default DISTINCT would defeat the (tenant, status, created_at) index
    status = django_filters.MultipleChoiceFilter(label="Status", choices=RunStatus.choices, distinct=False)
    kind = django_filters.ChoiceFilter(label="Kind", choices=RunKind.choices)
    action = django_filters.CharFilter(
        label="Audited action",
        method="filter_action",
        max_length=64,
        validators=[validate_action],
        widget=ACTION_INPUT,
    )
    q = django_filters.CharFilter(
        label="Search",
        method="filter_text",
        max_length=200,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "words, or #run id"}),
    )

    class Meta(AuditFilterSet.Meta):
        model = Run
        fields = [
            "user",
            "account",
            "config",
            "agent",
            "status",
            "kind",
            "action",
            "created_after",
            "created_before",
            "q",
        ]

    def filter_action(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        """Runs with at least one audit event of that action (approved, overridden, exported…)."""
        events = AuditEvent.objects.filter(action_q(value), run_id=OuterRef("pk"))
        return queryset.filter(Exists(events))

    def filter_text(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        """`#123` is a run id; anything else searches the request text (trigram-indexed on PostgreSQL;
        config and requester have their own filters)."""
        value = value.strip()
        if not value:
            return queryset
        match = RUN_ID_PATTERN.match(value)
        if match:
            return queryset.filter(pk=int(match.group(1)))
        return queryset.filter(request_text__icontains=value)


class AuditEventFilterSet(AuditFilterSet):
    user = UserFilter(label="Actor", field_name="actor", queryset=_users)
    account = django_filters.ModelChoiceFilter(
        label="AWS account", method="filter_account", queryset=_accounts
    )
    config = django_filters.ModelChoiceFilter(label="Config", method="filter_config", queryset=_configs)
    agent = django_filters.CharFilter(
        label="Agent",
        method="filter_agent",
        max_length=64,
        widget=forms.TextInput(attrs={"list": "audit-agents"}),
    )
    status = django_filters.MultipleChoiceFilter(
        label="Run reached status", choices=RunStatus.choices, method="filter_status", distinct=False
    )
    action = django_filters.CharFilter(
        label="Action",
        method="filter_action",
        max_length=64,
        validators=[validate_action],
        widget=ACTION_INPUT,
    )
    request_id = django_filters.CharFilter(label="Request id", max_length=64)
    q = django_filters.CharFilter(
        label="Search",
        method="filter_text",
        max_length=200,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "words, or #run id"}),
    )

    class Meta(AuditFilterSet.Meta):
        model = AuditEvent
        fields = [
            "user",
            "account",
            "config",
            "agent",
            "status",
            "action",
            "request_id",
            "created_after",
            "created_before",
            "q",
        ]

    # An event knows the run and config it is about (`runs.audit.event_scope`: a run, a row of a run,
    # or a config), so these filters are indexed lookups: a config's events are those of its runs and
    # about itself; an account's, those of its configs and about itself; an agent's, those of its runs.

    def filter_config(self, queryset: QuerySet, name: str, value: Config) -> QuerySet:
        return queryset.filter(config=value)

    def filter_account(self, queryset: QuerySet, name: str, value: AwsAccount) -> QuerySet:
        own = Q(object_type=AwsAccount._meta.label_lower, object_id=str(value.pk))
        return queryset.filter(Q(config__account=value) | own)

    def filter_agent(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(run__agent=value)

    def filter_status(self, queryset: QuerySet, name: str, value: list[str]) -> QuerySet:
        """Transitions into the status: `runs.services.transition` records them as `run.<status>`."""
        if not value:
            return queryset
        return queryset.filter(action__in=[f"run.{status}" for status in value])

    def filter_action(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(action_q(value))

    def filter_text(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        """`#123` finds the events about run 123 (and its approvals, artifacts…); anything else the summary, the actor or the request id.
        Each branch has an index (trigram on PostgreSQL for the two texts), so the OR stays indexable."""
        value = value.strip()
        if not value:
            return queryset
        match = RUN_ID_PATTERN.match(value)
        if match:
            return queryset.filter(run_id=int(match.group(1)))
        return queryset.filter(
            Q(summary__icontains=value) | Q(actor_label__icontains=value) | Q(request_id=value)
        )
