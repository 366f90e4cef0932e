"""Forms of the run pages: the list filter and one form per action (each a plain POST that works without JS)."""

from __future__ import annotations

from django import forms

from .states import RunStatus

STATE_GROUPS = [("active", "In progress"), ("waiting", "Waiting on people"), ("finished", "Finished")]


class RunFilterForm(forms.Form):
    state = forms.ChoiceField(required=False, choices=[("", "Any state"), *STATE_GROUPS])
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *RunStatus.choices])
    mine = forms.BooleanField(required=False, label="Only my requests")


class ApproveForm(forms.Form):
    comment = forms.CharField(required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 2}))
    change_ticket = forms.CharField(required=False, max_length=120)
    acknowledged_warnings = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple)
    plan_sha256 = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)

    def __init__(self, *args, warnings=(), ticket_required: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.warnings = list(warnings)
        self.fields["acknowledged_warnings"].choices = [(w.key, w.message or w.key) for w in self.warnings]
        if ticket_required:
            self.fields["change_ticket"].required = True
            self.fields["change_ticket"].error_messages["required"] = "A change ticket is required here."

    def clean_acknowledged_warnings(self):
        chosen = self.cleaned_data["acknowledged_warnings"]
        missing = [w.key for w in self.warnings if w.key not in chosen]
        if missing:
            raise forms.ValidationError(f"Acknowledge each warning before approving ({len(missing)} left).")
        return chosen


class RejectForm(forms.Form):
    comment = forms.CharField(
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "Say why you reject this plan."},
    )


class CancelForm(forms.Form):
    reason = forms.CharField(required=False, max_length=500)


class ForceUnlockForm(forms.Form):
    terraform_lock_id = forms.CharField(
        max_length=100,
        label="Terraform lock id",
        error_messages={"required": "Give the Terraform lock id of the workspace's state."},
    )
    reason = forms.CharField(required=False, max_length=500)


class ClarificationForm(forms.Form):
    """One field per open question; `answer__<field>` like the console, so both speak the same names."""

    PREFIX = "answer__"

    def __init__(self, *args, questions=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.questions = list(questions)
        for q in self.questions:
            name = self.PREFIX + q["field"]
            self.fields[name] = forms.CharField(required=False, max_length=300, label=q.get("question", ""))

    def answers(self) -> dict[str, str]:
        """An option or a typed value may both be sent under one name; the first non-blank one wins."""
        answers = {}
        for q in self.questions:
            values = self.data.getlist(self.PREFIX + q["field"]) if self.is_bound else []
            chosen = next((v.strip() for v in values if v and v.strip()), "")
            if chosen:
                answers[q["field"]] = chosen
        return answers


class DestroyForm(forms.Form):
    """Destroying a stack is confirmed by typing its name, so a stray click plans no destroy."""

    confirm = forms.CharField(
        max_length=200,
        label="Type the stack name to confirm",
        error_messages={"required": "Type the stack name to confirm."},
    )

    def __init__(self, *args, stack: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.stack = stack

    def clean_confirm(self):
        typed = self.cleaned_data["confirm"].strip()
        if typed != self.stack:
            raise forms.ValidationError(f"Type {self.stack} exactly to confirm.")
        return typed
