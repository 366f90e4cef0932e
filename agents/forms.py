"""The console's request form: the text, the config it runs with and, optionally, a blueprint to reuse."""

from __future__ import annotations

from django import forms

from runs.services import MAX_REQUEST_CHARS
from tenants.selectors import usable_configs

ANSWER_PREFIX = "answer__"  # inline clarification answers: answer__<question field>


class ConsoleForm(forms.Form):
    request_text = forms.CharField(
        label="What would you like to change?",
        max_length=MAX_REQUEST_CHARS,
        strip=True,
        widget=forms.Textarea,  # rendered by templates/agents/console.html (htmx preview attributes)
        error_messages={
            "required": "Say what you would like to change.",
            "max_length": f"Keep the request under {MAX_REQUEST_CHARS} characters.",
        },
    )
    config = forms.ModelChoiceField(
        queryset=None,
        label="Config",
        empty_label=None,
        error_messages={"invalid_choice": "You may not use that config; choose one of yours."},
    )
    blueprint = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, user, tenant, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["config"].queryset = usable_configs(user, tenant).order_by("name")

    def answers(self) -> dict[str, str]:
        """Inline answers to clarification questions, by question field. A question can be answered by
        an option or a typed value (same name); the first non-blank one wins."""
        if not self.is_bound:
            return {}
        answers: dict[str, str] = {}
        for key in self.data:
            if not key.startswith(ANSWER_PREFIX):
                continue
            values = self.data.getlist(key) if hasattr(self.data, "getlist") else [self.data[key]]
            chosen = next((v.strip() for v in values if isinstance(v, str) and v.strip()), "")
            if chosen:
                answers[key.removeprefix(ANSWER_PREFIX)] = chosen
        return answers
