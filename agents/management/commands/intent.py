"""Try a request from the shell: ``manage.py intent "TEXT" [--config NAME] [--tenant SLUG] [--json]``.

Prints the parsed intent, the agent chosen for it, any clarification questions and the intent commit
(what would be done, scope, rough cost, assumptions, regrets). Nothing is saved except, when a model is
configured, the LLM usage row; nothing is planned or applied.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from agents.clarification import questions_for
from agents.commit import belief, build_commit, snapshot_estimator
from agents.domains import AgentContext
from agents.llm_parser import parse_request
from agents.router import choose_agent, route
from tenants.models import Config, Tenant


class Command(BaseCommand):
    help = "Parse a plain-language request and show the intent, agent, questions and intent commit."

    def add_arguments(self, parser):
        parser.add_argument("text", help="the request, in quotes")
        parser.add_argument("--config", help="config name (with --tenant when the name is not unique)")
        parser.add_argument("--tenant", help="tenant slug")
        parser.add_argument("--json", action="store_true", help="print one JSON document")
        parser.add_argument(
            "--offline", action="store_true", help="use the offline parser even if a model is set"
        )
        parser.add_argument("--no-estimate", action="store_true", help="skip the rough cost estimate")

    def _context(self, options) -> AgentContext:
        tenant = config = None
        if options.get("tenant"):
            tenant = Tenant.objects.filter(slug=options["tenant"]).first()
            if tenant is None:
                raise CommandError(f"no tenant with slug {options['tenant']!r}")
        if options.get("config"):
            configs = Config.objects.select_related("account", "tenant").filter(name=options["config"])
            if tenant is not None:
                configs = configs.filter(tenant=tenant)
            found = list(configs[:2])
            if not found:
                raise CommandError(
                    f"no config named {options['config']!r}" + (f" in {tenant.slug}" if tenant else "")
                )
            if len(found) > 1:
                raise CommandError(f"more than one config is named {options['config']!r}; add --tenant")
            config = found[0]
            tenant = config.tenant
        estimator = None if options.get("no_estimate") else snapshot_estimator
        if config is not None:
            return AgentContext.for_config(config, estimator=estimator)
        account = tenant.accounts.order_by("pk").first() if tenant is not None else None
        return AgentContext(tenant=tenant, account=account, estimator=estimator)

    def handle(self, *args, **options):
        context = self._context(options)
        result = parse_request(
            options["text"],
            tenant=context.tenant,
            default_region=context.default_region,
            model="" if options.get("offline") else None,
        )
        intent = result.intent
        agent = choose_agent(intent)
        answer = route(intent, context)
        questions = questions_for(intent, config=context.config)
        commit = build_commit(intent, answer=answer, config=context.config)
        if options.get("json"):
            document = {
                "parser": result.parser,
                "notes": result.notes,
                "intent": intent.to_dict(),
                "agent": agent.name,
                "answer": answer.to_dict(),
                "questions": [q.to_dict() for q in questions],
                "commit": commit.to_dict(),
                "belief": belief(intent, answer=answer, commit=commit),
                "tenant": getattr(context.tenant, "slug", None),
                "config": getattr(context.config, "name", None),
            }
            self.stdout.write(json.dumps(document, indent=2, ensure_ascii=False, default=str))
            return
        self._text(result, agent, answer, questions, commit)

    def _text(self, result, agent, answer, questions, commit) -> None:
        out = self.stdout.write
        intent = result.intent
        out(f"Intent (parser: {result.parser}, confidence {intent.confidence:.2f})")
        out(f"  action: {intent.action.value}   domain: {intent.domain.value}")
        for resource in intent.resources:
            detail = resource.model_dump(exclude_defaults=True, exclude={"type"}, mode="json")
            out(f"  resource: {resource.type.value} {json.dumps(detail, ensure_ascii=False)}")
        for label, value in (
            ("region", intent.region),
            ("environment", intent.environment.value if intent.environment else None),
            (
                "budget",
                f"{intent.budget.amount} {intent.budget.currency.value}/{intent.budget.period.value}"
                if intent.budget
                else None,
            ),
            ("tags", intent.tags or None),
            ("filters", intent.filters or None),
            ("operation", intent.operation),
            ("constraints", ", ".join(intent.constraints) or None),
        ):
            if value:
                out(f"  {label}: {value}")
        for note in result.notes:
            out(f"  note: {note}")
        out(f"Agent: {agent.name} -> {answer.status}: {answer.message}")
        for refusal in answer.refusals:
            out(f"  refused: {refusal}")
        if questions:
            out("Questions:")
            for question in questions:
                options = f" [{' | '.join(question.options)}]" if question.options else ""
                out(f"  - {question.field}: {question.question}{options}")
        out("Intent commit:")
        out(f"  {commit.summary}")
        scope = ", ".join(f"{'all' if n is None else n} × {kind}" for kind, n in commit.scope.items())
        out(f"  scope: {scope or '-'}" + (f" (stacks: {', '.join(commit.stacks)})" if commit.stacks else ""))
        out(f"  cost: {commit.cost_text}")
        for assumption in commit.assumptions:
            out(f"  assumption: {assumption}")
        for note in commit.notes:
            out(f"  note: {note}")
        for regret in commit.regrets:
            out(f"  regret ({regret.severity}): {regret.message}")
        for spec in answer.specs:
            out("Spec: " + json.dumps(spec, ensure_ascii=False, sort_keys=True))
        if answer.composition:
            out(
                "Composition: "
                + json.dumps(answer.composition["composition"], ensure_ascii=False, sort_keys=True)
            )
