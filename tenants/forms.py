from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from . import services
from .models import AwsAccount, Config, Invitation, hash_invitation_code
from .roles import Role


class SignupForm(forms.Form):
    """allauth's sign-up asks for either a new tenant's name or an invitation code."""

    tenant_name = forms.CharField(
        max_length=120, required=False, label="New tenant name", help_text="Start a new tenant as its admin…"
    )
    invitation_code = forms.CharField(
        max_length=64, required=False, label="Invitation code", help_text="…or join one with an invitation."
    )

    def clean(self):
        data = super().clean()
        name, code = (data.get("tenant_name") or "").strip(), (data.get("invitation_code") or "").strip()
        if bool(name) == bool(code):
            raise ValidationError("Give either a new tenant name or an invitation code, not both.")
        if code:
            invitation = Invitation.objects.filter(code_hash=hash_invitation_code(code)).first()
            if invitation is None or invitation.status != "pending":
                state = invitation.status if invitation else "not valid"
                self.add_error("invitation_code", f"This invitation code is {state}.")
            elif invitation.email and invitation.email != (data.get("email") or "").strip().lower():
                self.add_error("invitation_code", "This invitation was issued to another email address.")
        return data

    def signup(self, request, user):
        if code := self.cleaned_data.get("invitation_code", "").strip():
            services.invitation_accept(code=code, user=user)
        else:
            services.tenant_create(name=self.cleaned_data["tenant_name"], owner=user)


class JoinTenantForm(forms.Form):
    invitation_code = forms.CharField(max_length=64)


class CreateTenantForm(forms.Form):
    name = forms.CharField(max_length=120)


class ContextSwitchForm(forms.Form):
    tenant = forms.IntegerField(required=False)
    config = forms.IntegerField(required=False)
    next = forms.CharField(required=False, max_length=500)


def _json_list(value) -> list[str]:
    if isinstance(value, list):
        return value
    return [item.strip() for item in (value or "").replace("\n", ",").split(",") if item.strip()]


class CommaListField(forms.CharField):
    """A list edited as comma-separated text."""

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list) else value

    def to_python(self, value):
        return _json_list(super().to_python(value))


class KeyValueField(forms.CharField):
    """A dict of tags edited as `key=value` lines."""

    widget = forms.Textarea(attrs={"rows": 3})

    def prepare_value(self, value):
        if isinstance(value, dict):
            return "\n".join(f"{k}={v}" for k, v in value.items())
        return value

    def to_python(self, value):
        text = super().to_python(value) or ""
        result: dict[str, str] = {}
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            key, sep, val = line.partition("=")
            if not sep or not key.strip():
                raise ValidationError(f"Line {number}: expected key=value.")
            result[key.strip()] = val.strip()
        return result


class AwsAccountForm(forms.ModelForm):
    allowed_regions = CommaListField(required=False, help_text="Comma-separated, e.g. ap-south-1, us-east-1")
    allowed_services = CommaListField(
        required=False, help_text="Comma-separated, e.g. ec2, s3, rds. Empty: all."
    )
    mandatory_tags = CommaListField(required=False, help_text="Tag keys, e.g. CostCenter, Owner")

    class Meta:
        model = AwsAccount
        fields = [
            "name",
            "alias",
            "account_id",
            "mode",
            "role_arn",
            "default_region",
            "allowed_regions",
            "allowed_services",
            "mandatory_tags",
            "daily_budget",
            "monthly_budget",
            "budget_currency",
            "kms_preference",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Sandbox accounts get a platform-assigned id; real accounts must name theirs (the service checks).
        self.fields["account_id"].required = False
        self.fields["account_id"].help_text = "Leave empty for a sandbox account: the platform assigns one."


class ConfigForm(forms.ModelForm):
    default_tags = KeyValueField(required=False, help_text="One key=value per line.")
    vpc_cidr = forms.CharField(required=False, label="VPC CIDR", help_text="e.g. 10.20.0.0/16")
    vpc_az_count = forms.IntegerField(required=False, min_value=1, max_value=6, label="Availability zones")

    class Meta:
        model = Config
        fields = [
            "name",
            "account",
            "env",
            "workspace",
            "region_override",
            "default_tags",
            "kms_key_arn",
            "restricted",
        ]

    def __init__(self, *args, tenant, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = AwsAccount.objects.filter(tenant=tenant)
        prefs = self.instance.vpc_preferences or {}
        self.fields["vpc_cidr"].initial = prefs.get("cidr", "")
        self.fields["vpc_az_count"].initial = prefs.get("az_count")

    def clean_vpc_cidr(self):
        import ipaddress

        value = self.cleaned_data["vpc_cidr"].strip()
        if value:
            try:
                network = ipaddress.ip_network(value)
            except ValueError as exc:
                raise ValidationError(str(exc)) from None
            if not 16 <= network.prefixlen <= 24:
                raise ValidationError("Use a prefix between /16 and /24.")
        return value

    def service_fields(self) -> dict:
        data = {name: self.cleaned_data[name] for name in self.Meta.fields}
        prefs = {"cidr": self.cleaned_data.get("vpc_cidr"), "az_count": self.cleaned_data.get("vpc_az_count")}
        data["vpc_preferences"] = {k: v for k, v in prefs.items() if v}
        return data


class InvitationForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices, initial=Role.OPERATOR)
    email = forms.EmailField(required=False, help_text="Optional: only this address may accept.")
    days = forms.IntegerField(min_value=1, max_value=30, initial=7, label="Valid for (days)")


class MembershipRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class ConfigGrantForm(forms.Form):
    user = forms.ModelChoiceField(queryset=get_user_model().objects.none())
    granted = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args, tenant, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = get_user_model().objects.filter(memberships__tenant=tenant)
