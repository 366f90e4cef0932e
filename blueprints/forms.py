"""Forms of the blueprint pages: the library's search and filters, and "save as blueprint"."""

from __future__ import annotations

from django import forms

from blueprints.models import BlueprintStatus
from blueprints.stacks import STACK_CHOICES

SCOPE_CHOICES = [("", "Platform and tenant"), ("platform", "Platform only"), ("tenant", "This tenant only")]


class BlueprintSearchForm(forms.Form):
    """GET filters of the library; every field is optional and an invalid one is reported, not applied."""

    q = forms.CharField(
        required=False,
        max_length=200,
        label="Search",
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": "Name, description or stack (e.g. alb, postgres)"}
        ),
    )
    stack = forms.ChoiceField(required=False, choices=[("", "Any stack"), *STACK_CHOICES])
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *BlueprintStatus.choices])
    scope = forms.ChoiceField(required=False, choices=SCOPE_CHOICES, label="Owner")

    def filters(self) -> dict[str, str]:
        """The valid filters as selector keywords (``blueprints.selectors.blueprint_library``)."""
        if not self.is_bound:
            return {}
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {
            "query": (data.get("q") or "").strip(),
            "stack": data.get("stack") or "",
            "status": data.get("status") or "",
            "scope": data.get("scope") or "",
        }


class SaveAsBlueprintForm(forms.Form):
    name = forms.CharField(
        max_length=120, help_text="Shown in the library; a unique slug is derived from it."
    )
    description = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What it builds and when to reuse it; the library's search reads this.",
    )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("A blueprint needs a name.")
        return name
