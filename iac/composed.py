"""Composed specs: a composition of the curated modules of ``iac/modules/`` placed in an account and config,
rendered and planned by the same pipeline as a curated stack.

A ``ComposedSpec`` is the free-form counterpart of ``iac.spec.CompositionSpec``: the same placement fields
(region, account, backend, workspace, sandbox endpoint, tags) and the same ``sha256()``, but instead of one
stack it carries a ``Composition``: named calls of curated modules, each with literal inputs for the
module's declared variables and ``refs`` wiring a variable to another call's declared output. It is checked
against the modules' ``variables.tf``/outputs on construction (``composition_problems``), so a stored spec
that was edited after review cannot render anything the catalogue does not declare.

Rendering reuses the renderer's parts (curated copies, trusted provider and backend files, source digest);
only the root files differ: one module block per call, every input either ``var.<call>__<variable>`` (the
value lives in ``terraform.tfvars.json``, which Terraform never interpolates) or a platform-written
``module.<call>.<output>``. ``parse_spec``/``render_spec`` accept either kind of spec, so the pipeline and
the worker handle both through one interface. Proposing and screening compositions (the language model,
Terraform-looking text) is ``agents.composition``'s job.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from iac import renderer
from iac import spec as spec_module
from iac.placement import AccountRef, Placement, SpecError
from iac.spec import CompositionSpec, Variable, check_type
from iac.state import backend_for

if TYPE_CHECKING:
    from tenants.models import AwsAccount, Config

__all__ = [
    "AnySpec",
    "ComposedSpec",
    "Composition",
    "CuratedModule",
    "ModuleCall",
    "build_composed_spec",
    "composition_files",
    "composition_problems",
    "curated_modules",
    "parse_spec",
    "render_composition",
    "render_spec",
]

MAX_STRING = 2048
# Module block names: identifiers without "__" (root variables are "<call>__<variable>") or a trailing "_".
CALL_NAME_RE = re.compile(r"^[a-z](?:[a-z0-9]|_(?!_))*$")
CALL_NAME_MAX = 40
# The composition's name is part of its state key (iac.state.state_key).
COMPOSITION_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,47}$")
REF_RE = re.compile(r"^([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)$")
STATE_PREFIX = "composed-"
MAX_MODULES = 10
MAX_SUMMARY = 500
TOP_KEYS = frozenset({"name", "summary", "modules"})
CALL_KEYS = frozenset({"name", "module", "inputs", "refs"})
TERRAFORM_BLOCKS = frozenset(
    {"provider", "providers", "terraform", "resource", "data", "locals", "variable", "output", "backend"}
)
META_ARGUMENTS = frozenset(
    {"source", "version", "providers", "provider", "count", "for_each", "depends_on", "lifecycle"}
)
# The platform sets these, whatever a proposal says.
RESERVED_VARIABLES = frozenset({"tags"})

# --- the curated modules ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CuratedModule:
    name: str
    title: str  # the README's first sentence
    variables: dict[str, Variable]
    outputs: dict[str, bool]  # name -> sensitive

    def catalogue_entry(self) -> dict[str, Any]:
        return {
            "about": self.title,
            "variables": {
                name: {"type": v.type, "required": v.required}
                for name, v in sorted(self.variables.items())
                if name not in RESERVED_VARIABLES
            },
            "outputs": sorted(self.outputs),
        }


def modules_dir() -> Path:
    return spec_module.IAC_ROOT / "modules"


def curated_modules() -> dict[str, CuratedModule]:
    """Every module of ``iac/modules`` with its declared variables and outputs (re-read on change)."""
    root = modules_dir()
    if not root.is_dir():
        return {}
    stamp = tuple(
        (str(path), path.stat().st_mtime_ns, path.stat().st_size)
        for path in sorted(root.glob("*/*.tf")) + sorted(root.glob("*/README.md"))
    )
    return dict(_read_modules(str(root), stamp))


@lru_cache(maxsize=8)
def _read_modules(root_text: str, stamp: tuple) -> tuple[tuple[str, CuratedModule], ...]:
    found = []
    for directory in sorted(Path(root_text).iterdir()):
        if not (directory.is_dir() and (directory / "variables.tf").is_file()):
            continue
        tf_stamp = tuple(
            (str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(directory.glob("*.tf"))
        )
        # The same python-hcl2 reading the spec applies to stacks, so types are spelled identically.
        variables = dict(spec_module._read_variables(str(directory), tf_stamp))
        outputs = dict(renderer.stack_outputs(directory))
        found.append((directory.name, CuratedModule(directory.name, _title(directory), variables, outputs)))
    return tuple(found)


def _title(directory: Path) -> str:
    readme = directory / "README.md"
    if not readme.is_file():
        return directory.name
    for line in readme.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            return line.split(": ")[0].rstrip(":.")[:160]
    return directory.name


# --- the composition -------------------------------------------------------------------------------


class ModuleCall(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    module: str
    inputs: dict[str, Any] = Field(default_factory=dict)
    refs: dict[str, str] = Field(default_factory=dict)  # variable -> "<call>.<output>"


class Composition(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    summary: str = ""
    modules: tuple[ModuleCall, ...]

    @property
    def module_names(self) -> list[str]:
        return sorted({call.module for call in self.modules})


def composition_problems(payload: Any) -> list[str]:
    """Every problem of a composition as JSON (a proposal, or a stored spec's ``composition``), in plain
    sentences; empty when it can be rendered. Its shape: only name, summary and module calls, no Terraform
    blocks or meta-arguments. The curated modules' contract: known modules, declared variables of the
    right type, required ones given, references to declared outputs and not in a cycle."""
    if not isinstance(payload, dict):
        return ["The proposal must be one JSON object."]
    problems: list[str] = []
    for key in sorted(set(payload) - TOP_KEYS, key=str):
        if str(key).lower() in TERRAFORM_BLOCKS | {"module"}:
            problems.append(
                f"A {key!r} block is not allowed: a proposal only names curated modules and their variables."
            )
        else:
            problems.append(f"Unknown field {key!r} in the proposal.")
    name = payload.get("name")
    if not isinstance(name, str) or not COMPOSITION_NAME_RE.match(name):
        problems.append("name must be 1-48 lower-case letters, digits or dashes.")
    summary = payload.get("summary", "")
    if not isinstance(summary, str) or len(summary) > MAX_SUMMARY:
        problems.append("summary must be a short text.")
    calls = payload.get("modules")
    if not isinstance(calls, list) or not calls:
        return [*problems, "modules must be a non-empty list."]
    if len(calls) > MAX_MODULES:
        problems.append(f"At most {MAX_MODULES} modules may be composed.")

    catalogue = curated_modules()
    declared: dict[str, CuratedModule] = {}
    well_formed: list[dict[str, Any]] = []  # calls whose contract can be read
    for index, call in enumerate(calls):
        where = f"modules[{index}]"
        if not isinstance(call, dict):
            problems.append(f"{where} must be an object.")
            continue
        call_name = call.get("name")
        if isinstance(call_name, str) and CALL_NAME_RE.match(call_name) and len(call_name) <= CALL_NAME_MAX:
            where = f"module {call_name!r}"
            if call_name in declared:
                problems.append(f"{where} is named twice.")
        else:
            problems.append(f"{where}: name must be a lower-case identifier (letters, digits, single '_').")
            call_name = None
        for key in sorted(set(call) - CALL_KEYS, key=str):
            if key in META_ARGUMENTS:
                problems.append(
                    f"{where}: {key!r} is not allowed; module sources, providers and meta-arguments are "
                    "chosen by the platform."
                )
            else:
                problems.append(f"{where}: unknown field {key!r} (allowed: {', '.join(sorted(CALL_KEYS))}).")
        module = catalogue.get(call.get("module")) if isinstance(call.get("module"), str) else None
        if module is None:
            problems.append(
                f"{where}: unknown module {call.get('module')!r}; only the curated modules may be used "
                f"({', '.join(sorted(catalogue))})."
            )
            continue
        shapes_ok = True
        for field_name in ("inputs", "refs"):
            if not isinstance(call.get(field_name, {}), dict):
                problems.append(f"{where}: {field_name} must be an object.")
                shapes_ok = False
        if call_name is not None and shapes_ok and call_name not in declared:
            declared[call_name] = module
            well_formed.append(call)
    for call in well_formed:
        problems += _call_problems(call, declared)
    if not problems:
        problems += _cycle_problems(well_formed)
    return list(dict.fromkeys(problems))


def _long_strings(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        return [f"{where}: text longer than {MAX_STRING} characters"] if len(value) > MAX_STRING else []
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in _long_strings(item, f"{where}.{key}")]
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in _long_strings(item, f"{where}[{i}]")]
    return []


def _call_problems(call: dict[str, Any], declared: dict[str, CuratedModule]) -> list[str]:
    name = call["name"]
    module = declared[name]
    where = f"module {name!r} ({module.name})"
    inputs = call.get("inputs") or {}
    refs = call.get("refs") or {}
    if not isinstance(inputs, dict) or not isinstance(refs, dict):
        return []
    problems: list[str] = []
    known = ", ".join(v for v in sorted(module.variables) if v not in RESERVED_VARIABLES)
    for variable_name in sorted({*inputs, *refs}, key=str):
        if variable_name in RESERVED_VARIABLES:
            problems.append(
                f"{where}: {variable_name!r} is set by the platform (the config's and request's tags)."
            )
        elif variable_name not in module.variables:
            problems.append(f"{where}: unknown variable {variable_name!r} (declared: {known}).")
        elif variable_name in inputs and variable_name in refs:
            problems.append(f"{where}: {variable_name!r} is given both a value and a reference.")
    for variable_name, value in inputs.items():
        variable = module.variables.get(variable_name)
        if variable is None or variable_name in RESERVED_VARIABLES:
            continue
        if value is None:
            if not variable.default_null:
                problems.append(f"{where}: {variable_name!r} cannot be null.")
            continue
        try:
            check_type(value, variable.type, f"{where}: {variable_name!r}")
        except SpecError as exc:
            problems.append(f"{exc}.")
        problems += _long_strings(value, f"{where}: {variable_name!r}")
    for variable_name, target in refs.items():
        if variable_name not in module.variables or variable_name in RESERVED_VARIABLES:
            continue
        match = REF_RE.match(target) if isinstance(target, str) else None
        if match is None:
            problems.append(f"{where}: reference {target!r} must look like <module name>.<output>.")
            continue
        other, output = match.groups()
        if other == name:
            problems.append(f"{where}: {variable_name!r} refers to the module itself.")
        elif other not in declared:
            problems.append(f"{where}: {variable_name!r} refers to {other!r}, which is not in the proposal.")
        elif output not in declared[other].outputs:
            problems.append(
                f"{where}: {variable_name!r} refers to {output!r}, which {declared[other].name} does not "
                f"output ({', '.join(sorted(declared[other].outputs))})."
            )
    for variable_name, variable in sorted(module.variables.items()):
        given = variable_name in inputs or variable_name in refs
        if variable.required and variable_name not in RESERVED_VARIABLES and not given:
            problems.append(f"{where}: missing required variable {variable_name!r} ({variable.type}).")
    return problems


def _cycle_problems(calls: list[dict[str, Any]]) -> list[str]:
    edges = {
        call["name"]: sorted({target.split(".")[0] for target in (call.get("refs") or {}).values()})
        for call in calls
    }
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in edges.get(node, []):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt] if nxt in path else [node, nxt]
            if state.get(nxt) is None:
                found = visit(nxt, [*path, nxt])
                if found:
                    return found
        state[node] = 2
        return None

    for start in sorted(edges):
        if state.get(start) is None:
            cycle = visit(start, [start])
            if cycle:
                return [f"References form a cycle: {' → '.join(cycle)}."]
    return []


# --- placement -------------------------------------------------------------------------------------


class ComposedSpec(Placement):
    """A validated composition placed (``iac.placement.Placement``, as a curated stack is) in an account and
    config: what ``render_composition`` renders."""

    composition: Composition

    @field_validator("composition", mode="before")
    @classmethod
    def _composition_fits_the_catalogue(cls, value: Any) -> Any:
        # Checked on the raw JSON, on every parse, by the validator proposals go through: a stored spec
        # edited after review must not render undeclared inputs, and is refused with the same reasons.
        payload = value.model_dump(mode="json") if isinstance(value, Composition) else value
        if problems := composition_problems(payload):
            raise ValueError(" ".join(problems))
        return value


# What the pipeline plans: a curated stack or a composition of curated modules.
AnySpec = CompositionSpec | ComposedSpec


def parse_spec(data: dict | str | bytes) -> AnySpec:
    """A stored spec of either kind (a composed spec is the one with a ``composition``); SpecError when
    it is not valid."""
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise SpecError(f"the spec is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise SpecError("the spec must be a JSON object")
    return ComposedSpec.parse(data) if "composition" in data else CompositionSpec.parse(data)


def render_spec(
    spec: AnySpec, workdir: str | os.PathLike[str], *, account: AwsAccount | None = None
) -> renderer.RenderResult:
    """``iac.renderer.render`` for a stack, ``render_composition`` for a composition."""
    if isinstance(spec, ComposedSpec):
        return render_composition(spec, workdir, account=account)
    return renderer.render(spec, workdir, account=account)


def build_composed_spec(
    composition: Composition,
    *,
    account: AwsAccount,
    config: Config,
    tags: dict[str, str] | None = None,
    region: str | None = None,
    sandbox_endpoint: str | None = None,
) -> ComposedSpec:
    """Place ``composition`` in ``config``'s workspace, as ``iac.spec.build_spec`` places a stack: its own
    state object (``composed-<name>``), the config's tags plus ``tags``."""
    if config.account_id != account.pk:
        raise SpecError("the config belongs to another account")
    region = region or config.region
    if account.mode == "sandbox" and sandbox_endpoint is None:
        from iac.sandbox import sandbox_endpoint as configured

        sandbox_endpoint = configured()
    backend = backend_for(account, config, STATE_PREFIX + composition.name, region=region)
    return ComposedSpec(
        composition=composition,
        tags={**config.tags, **(tags or {})},
        region=region,
        account=AccountRef(id=account.pk, account_id=account.account_id, mode=account.mode),
        backend=backend,
        workspace=config.workspace,
        sandbox_endpoint=sandbox_endpoint if account.mode == "sandbox" else None,
    )


# --- rendering -------------------------------------------------------------------------------------


def _root_variable(call: ModuleCall, variable: str) -> str:
    return f"{call.name}__{variable}"


def _versions_tf() -> str:
    return (
        renderer.HEADER
        + "\nterraform {\n"
        + f"  required_version = {renderer.hcl_string(renderer.TERRAFORM_VERSION)}\n\n"
        + "  required_providers {\n    aws = {\n"
        + '      source  = "hashicorp/aws"\n'
        + f"      version = {renderer.hcl_string(renderer.AWS_PROVIDER_VERSION)}\n"
        + "    }\n  }\n}\n"
    )


def composition_files(spec: ComposedSpec) -> dict[str, str]:
    """The root files (the curated copies aside): a pure function of the spec, in ``terraform fmt`` form."""
    catalogue = curated_modules()
    calls = sorted(spec.composition.modules, key=lambda call: call.name)
    aligned, ident, hcl = renderer._aligned, renderer._ident, renderer.hcl_string

    var_blocks, values, main_blocks, out_blocks = [], {}, [], []
    for call in calls:
        module = catalogue[call.module]
        for name in sorted(call.inputs):
            variable = module.variables[name]
            root_name = _root_variable(call, name)
            attrs = [("type", renderer._root_variable_type(variable.type))]
            if variable.default_null:
                attrs.append(("default", "null"))
            if variable.sensitive:
                attrs.append(("sensitive", "true"))
            var_blocks.append(
                "\n".join([f'variable "{ident(root_name)}" {{', *aligned(attrs, 2), "}"]) + "\n"
            )
            values[root_name] = call.inputs[name]
        inputs = [(ident(name), f"var.{_root_variable(call, name)}") for name in call.inputs]
        for name, target in call.refs.items():
            other, output = target.split(".")
            inputs.append((ident(name), f"module.{ident(other)}.{ident(output)}"))
        if "tags" in module.variables:
            inputs.append(("tags", "var.tags"))
        lines = [
            f'module "{ident(call.name)}" {{',
            f"  source = {hcl(f'./{renderer.GANTRY_DIR}/modules/{call.module}')}",
        ]
        if inputs:
            lines += ["", *aligned(sorted(inputs), 2)]
        main_blocks.append("\n".join([*lines, "}"]) + "\n")
        for output, sensitive in sorted(module.outputs.items()):
            attrs = [("value", f"module.{ident(call.name)}.{ident(output)}")]
            if sensitive:
                attrs.append(("sensitive", "true"))
            out_blocks.append(
                "\n".join([f'output "{ident(_root_variable(call, output))}" {{', *aligned(attrs, 2), "}"])
                + "\n"
            )
    var_blocks.append(
        'variable "tags" {\n'
        "  description = \"Tags on every resource: the config's default tags and the request's.\"\n"
        "  type        = map(string)\n"
        "}\n"
    )
    values["tags"] = dict(sorted(spec.tags.items()))
    return {
        "backend.tf": renderer._backend_tf(spec),  # type: ignore[arg-type]  # reads placement fields only
        "main.tf": renderer.HEADER + "\n" + "\n".join(main_blocks),
        "outputs.tf": renderer.HEADER + ("\n" + "\n".join(out_blocks) if out_blocks else ""),
        "provider.tf": renderer._provider_tf(spec),  # type: ignore[arg-type]
        "terraform.tfvars.json": json.dumps(
            values, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False
        )
        + "\n",
        "variables.tf": renderer.HEADER + "\n" + "\n".join(var_blocks),
        "versions.tf": _versions_tf(),
    }


def render_composition(
    spec: ComposedSpec, workdir: str | os.PathLike[str], *, account: AwsAccount | None = None
) -> renderer.RenderResult:
    """Write the work dir for ``spec`` (missing or empty) the way ``iac.renderer.render`` writes a stack's:
    copies of the curated modules used, the root files, and the digests the gates and approvals bind to."""
    if account is not None:
        if account.pk != spec.account.id or account.account_id != spec.account.account_id:
            raise renderer.RenderError("the spec was built for another account")
        if account.mode != spec.account.mode:
            raise renderer.RenderError(
                f"the account is in {account.mode} mode, the spec says {spec.account.mode}"
            )
    root = Path(workdir)
    if root.exists() and any(root.iterdir()):
        raise renderer.RenderError(f"work dir {root} is not empty")
    root.mkdir(parents=True, exist_ok=True)
    iac_root = spec_module.IAC_ROOT
    written: dict[str, bytes] = {}
    directories = sorted(
        {
            directory
            for module in spec.composition.module_names
            for directory in renderer._module_dirs(modules_dir() / module, iac_root)
        }
    )
    module_dirs = [
        renderer._copy_curated(directory, iac_root, root / renderer.GANTRY_DIR, written)
        for directory in directories
    ]
    for name, text in composition_files(spec).items():
        data = text.encode("utf-8")
        (root / name).write_bytes(data)
        written[name] = data
    files = {path: hashlib.sha256(data).hexdigest() for path, data in sorted(written.items())}
    return renderer.RenderResult(
        workdir=root,
        files=files,
        source_sha256=renderer.source_digest(files),
        trusted_files={name: files[name] for name in renderer.TRUSTED_FILES},
        spec_sha256=spec.sha256(),
        module_dirs=sorted(module_dirs),
    )
