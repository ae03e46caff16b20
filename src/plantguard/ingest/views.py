"""Console pages of the sensing layer: devices (list, import/export, detail and edit), the
quarantine of rejected input, a parser-rule tester and the simulator's fault switchboard.

A device is edited as the same YAML it is imported as: its ``connection``, point map and
parser rules are three text areas parsed with ``yaml.safe_load`` and checked by the service
the API and the CLI use, so the console refuses exactly what they refuse. An error names its
field (``points.3.address``) and, where the text says it, the line, next to the text area it
concerns. What the protocol expects is generated from its manifest's models, so a plug-in's
help is as complete as a built-in connector's.

Nothing here is cached: a device's state changes without an audited write.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlencode

import yaml
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from plantguard.api.deps import runtime
from plantguard.assets.models import Equipment, MeasurementPoint
from plantguard.audit.ledger import bind_actor
from plantguard.core.errors import FieldError, ValidationFailed
from plantguard.core.i18n import N_
from plantguard.core.i18n import gettext as _
from plantguard.core.permissions import Actor, Perm
from plantguard.ingest import manifest as manifests
from plantguard.ingest.config import (
    MAX_YAML_BYTES,
    DeviceCreate,
    DeviceUpdate,
    device_service,
    export_yaml,
    import_devices,
    parse_yaml,
    pydantic_errors,
    validate_device,
)
from plantguard.ingest.labels import (
    MODE_LABELS,
    REASON_LABELS,
    STATES,
    field_label,
    reason_label,
    state_label,
)
from plantguard.ingest.models import Device, DeviceStatus, QuarantinedInput
from plantguard.tenancy.models import Area
from plantguard.web.render import render
from plantguard.web.session import WebId, WebOffset, clean_text

if TYPE_CHECKING:
    from plantguard.simulator.control import ControlDir
    from plantguard.web.views import Page

PAGE_SIZE: Final = 50
RECENT_QUARANTINE: Final = 20
LIST_REFRESH_S: Final = 15
SIM_REFRESH_S: Final = 10
SIM_TIMEOUT_S: Final = 5.0
# Form fields may carry a whole YAML document (Starlette's default part limit is 1 MB).
MAX_FORM_PART: Final = MAX_YAML_BYTES + 64 * 1024
CONFIG_FIELDS: Final = ("connection", "points", "rules")
FORM_FIELDS: Final = ("code", "name", "protocol", "enabled", "poll_interval_s", "notes", *CONFIG_FIELDS)
CONFIG_SHAPES: Final = {"connection": dict, "points": list, "rules": list}
MAX_DEPTH: Final = 40  # nesting of a configuration value; PyYAML itself recurses per level
MAX_VALUES: Final = 500_000  # values in one text area once aliases are expanded


# -- YAML in text areas --------------------------------------------------------------------------


def to_yaml(value: Any, *, block: bool = False) -> str:
    """Stored configuration as it is edited: flat entries on one line (``- {point: …}``),
    nested ones as blocks; nothing for an empty value."""
    if not value:
        return ""
    return yaml.safe_dump(value, allow_unicode=True, sort_keys=False, width=4096,
                          default_flow_style=False if block else None)


def yaml_line(text: str, path: Sequence[str]) -> int | None:
    """The 1-based line of the deepest node of ``path`` (``["3", "address"]``) that exists in
    ``text``: a missing key points at the entry that lacks it. None when the text does not
    parse or not even the first step exists."""
    try:
        node: yaml.Node | None = yaml.compose(text, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError):
        return None
    line: int | None = None
    for step in path:
        found: yaml.Node | None = None
        at: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == step:
                    found, at = value, key
                    break
        elif isinstance(node, yaml.SequenceNode) and step.isdigit() and int(step) < len(node.value):
            found = at = node.value[int(step)]
        if found is None or at is None:
            break
        node, line = found, at.start_mark.line + 1
    return line


class NotPlain(Exception):
    """Part of a parsed YAML value that the stored form (JSON) cannot hold as it is."""

    def __init__(self, path: tuple[str, ...], message: str, params: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.path, self.message, self.params = path, message, params or {}


def plain_size(value: Any, path: tuple[str, ...] = (), depth: int = 0, sizes: dict[int, int] | None = None,
               active: set[int] | None = None) -> int:
    """The number of values ``value`` holds once YAML aliases are expanded (as storing it will
    expand them), checking that each is plain: text, finite numbers, true/false, null, lists
    and mappings with text keys. Raises :class:`NotPlain` naming the first offending path,
    also for a value that contains itself, nests too deep or expands too far (an alias bomb).
    Linear in the distinct nodes: a shared node is measured once."""
    if value is None or isinstance(value, bool | int | str):
        return 1
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NotPlain(path, N_("Must be a finite number"))
        return 1
    if not isinstance(value, list | dict):
        raise NotPlain(path, N_("Write %(value)s in quotes: only text, numbers, true/false, lists and mappings "
                                "are kept"), {"value": str(value)[:60]})
    sizes = {} if sizes is None else sizes
    active = set() if active is None else active
    key = id(value)
    if key in sizes:
        return sizes[key]
    if key in active:
        raise NotPlain(path, N_("This value contains itself (an alias of its own anchor)"))
    if depth >= MAX_DEPTH:
        raise NotPlain(path, N_("Nested more than %(max)s levels deep"), {"max": MAX_DEPTH})
    active.add(key)
    total = 1
    items: Iterable[tuple[Any, Any]] = enumerate(value) if isinstance(value, list) else value.items()
    for k, item in items:
        if isinstance(value, dict) and not isinstance(k, str):
            raise NotPlain(path, N_("Keys must be text; quote %(key)s"), {"key": str(k)[:60]})
        total += plain_size(item, (*path, str(k)), depth + 1, sizes, active)
        if total > MAX_VALUES:
            raise NotPlain(path, N_("Too large once its aliases are expanded (more than %(max)s values)"),
                           {"max": MAX_VALUES})
    active.discard(key)
    sizes[key] = total
    return total


def parse_config_text(name: str, text: str) -> tuple[Any, list[FieldError]]:
    """One text area (``connection``, ``points`` or ``rules``) as the value to save. Empty
    means none; a document of the form ``points: [...]`` (pasted from an import file) is
    taken for its list."""
    shape = CONFIG_SHAPES[name]
    if len(text.encode("utf-8", "surrogatepass")) > MAX_YAML_BYTES:
        return None, [FieldError(name, N_("The file is larger than %(limit)s MB"), {"limit": MAX_YAML_BYTES >> 20})]
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except RecursionError:
        return None, [FieldError(name, N_("Nested more than %(max)s levels deep"), {"max": MAX_DEPTH})]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{mark.line + 1}:{mark.column + 1}" if mark is not None else "?"
        return None, [FieldError(name, N_("Not valid YAML (line:column %(where)s)"), {"where": where})]
    if value is None:
        return shape(), []
    if shape is list and isinstance(value, dict) and list(value) == [name]:
        value = value[name] if value[name] is not None else []
    if not isinstance(value, shape):
        message = (N_("Expected settings as “key: value” lines") if shape is dict
                   else N_("Expected a list: one entry per line starting with “- ”"))
        return None, [FieldError(name, message)]
    try:
        plain_size(value)
    except NotPlain as exc:
        return None, [FieldError(".".join((name, *exc.path)), exc.message, exc.params)]
    return value, []


def parse_whole_file(text: str) -> list[dict[str, Any]]:
    """An import file's device entries (see :func:`plantguard.ingest.config.parse_yaml`), also
    refusing what that does not check: nesting too deep for the parser, values storage cannot
    hold, aliases that expand too far."""
    try:
        entries = parse_yaml(text)
    except RecursionError:
        raise ValidationFailed([FieldError("file", N_("Nested more than %(max)s levels deep"),
                                           {"max": MAX_DEPTH})]) from None
    try:
        plain_size(entries, ("devices",))
    except NotPlain as exc:
        raise ValidationFailed([FieldError(".".join(exc.path), exc.message, exc.params)]) from None
    return entries


# -- errors as shown ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShownError:
    field: str  # the dotted path, e.g. points.3.address
    label: str  # the same, as people read it
    message: str  # translated
    line: int | None = None  # in the text area (or file) the field lives in

    @property
    def area(self) -> str:
        return self.field.split(".", 1)[0]


def message_of(e: FieldError) -> str:
    """A field error in the reader's language (parameters that are message ids too)."""
    text = _(e.message)
    if not e.params:
        return text
    try:
        return text % {k: _(v) if isinstance(v, str) else v for k, v in e.params.items()}
    except (KeyError, TypeError, ValueError):
        return _(e.message) if "%" not in e.message else e.message


def show_errors(errors: Iterable[FieldError], texts: dict[str, str] | None = None,
                document: str | None = None) -> list[ShownError]:
    """Field errors with labels and lines: ``texts`` maps a text area to its YAML (the line is
    looked up below its first path step), ``document`` is a whole import file."""
    out: list[ShownError] = []
    seen: set[tuple[str, str]] = set()
    for e in errors:
        message = message_of(e)
        if (e.field, message) in seen:
            continue
        seen.add((e.field, message))
        steps = e.field.split(".")
        line = None
        if document is not None and len(steps) > 1:
            line = yaml_line(document, steps)
        elif texts and steps[0] in texts and len(steps) > 1:
            line = yaml_line(texts[steps[0]], steps[1:])
        out.append(ShownError(e.field, field_label(e.field), message, line))
    return out


def by_area(errors: list[ShownError]) -> dict[str, list[ShownError]]:
    grouped: dict[str, list[ShownError]] = {}
    for e in errors:
        grouped.setdefault(e.area if e.area in FORM_FIELDS or e.area == "sample" else "", []).append(e)
    return grouped


# -- what a protocol expects -----------------------------------------------------------------------

TYPE_WORDS: Final = {
    "string": N_("text"), "integer": N_("whole number"), "number": N_("number"), "boolean": N_("true / false"),
    "array": N_("list"), "object": N_("mapping"),
}


@dataclass(frozen=True)
class KeyHelp:
    key: str
    kind: str  # translated
    required: bool
    default: str  # YAML text of the default ("" when required)
    limits: str  # translated


@dataclass(frozen=True)
class HelpTable:
    title: str  # message id
    keys: list[KeyHelp]


@dataclass(frozen=True)
class ProtocolHelp:
    protocol: str
    name: str  # message id
    mode: str  # message id
    tables: list[HelpTable]


_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:+-]*")


def _yaml_scalar(value: Any) -> str:
    """A default as it would be written in YAML: text in double quotes unless it reads back
    as itself unquoted (so that a line break shows as ``"\\n"``), numbers and lists as YAML."""
    if isinstance(value, str):
        plain = bool(_PLAIN.fullmatch(value)) and yaml.safe_load(value) == value
        return value if plain else json.dumps(value, ensure_ascii=False)
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def _kind(prop: dict[str, Any], defs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The type of a JSON-schema property in words, and the sub-schema carrying its limits."""
    options = [o for o in prop.get("anyOf", []) if o.get("type") != "null"]
    nullable = len(options) < len(prop.get("anyOf", []))
    sub = options[0] if len(options) == 1 else prop
    if "enum" in sub:
        text = " | ".join(str(v) for v in sub["enum"])
    elif sub.get("type") == "array" and "$ref" in sub.get("items", {}):
        target = defs.get(sub["items"]["$ref"].rsplit("/", 1)[-1], {})
        text = _("list of mappings: %(keys)s", keys=", ".join(target.get("properties", {})))
    elif len(options) > 1:
        text = " | ".join(_(TYPE_WORDS.get(o.get("type", ""), o.get("type", "?"))) for o in options)
    else:
        kind = sub.get("type", "")
        text = _(TYPE_WORDS[kind]) if kind in TYPE_WORDS else (kind or "—")
    if nullable:
        text = _("%(kind)s, or null", kind=text)
    return text, sub


def _limits(sub: dict[str, Any]) -> str:
    parts: list[str] = []
    lo, hi = sub.get("minimum"), sub.get("maximum")
    if lo is not None and hi is not None:
        parts.append(_("%(min)s to %(max)s", min=lo, max=hi))
    elif lo is not None:
        parts.append(_("at least %(min)s", min=lo))
    elif hi is not None:
        parts.append(_("at most %(max)s", max=hi))
    if sub.get("exclusiveMinimum") is not None:
        parts.append(_("above %(min)s", min=sub["exclusiveMinimum"]))
    if sub.get("exclusiveMaximum") is not None:
        parts.append(_("below %(max)s", max=sub["exclusiveMaximum"]))
    if sub.get("maxLength") is not None:
        parts.append(_("up to %(max)s characters", max=sub["maxLength"]))
    if sub.get("maxItems") is not None:
        parts.append(_("up to %(max)s entries", max=sub["maxItems"]))
    if sub.get("pattern"):
        parts.append(_("pattern %(pattern)s", pattern=sub["pattern"]))
    return "; ".join(parts)


def schema_help(model: type[BaseModel]) -> list[KeyHelp]:
    """Every key a configuration model takes, from its JSON schema: type, default, limits."""
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    required = set(schema.get("required", []))
    out: list[KeyHelp] = []
    for key, prop in schema.get("properties", {}).items():
        kind, sub = _kind(prop, defs)
        is_required = key in required
        default = "" if is_required or "default" not in prop else _yaml_scalar(prop["default"])
        out.append(KeyHelp(key, kind, is_required, default, _limits(sub)))
    return out


def protocol_help(protocol: str, *, with_rules: bool = False) -> ProtocolHelp | None:
    """The keys a protocol's ``connection`` and point-map entries take; the parser rules' keys
    too for the custom line protocol (or ``with_rules``, for a device that has rules)."""
    try:
        m = manifests.get(protocol)
    except manifests.UnknownProtocol:
        return None
    tables = [HelpTable(N_("connection: settings"), schema_help(m.config_model)),
              HelpTable(N_("points: one entry per mapped point"), schema_help(m.point_model))]
    if with_rules or protocol == "custom":
        from plantguard.ingest.rules import Rule, RuleOutput

        tables += [HelpTable(N_("rules: one entry per kind of line"), schema_help(Rule)),
                   HelpTable(N_("rules › outputs: one entry per reading"), schema_help(RuleOutput))]
    return ProtocolHelp(m.protocol, m.name, MODE_LABELS.get(m.mode, m.mode), tables)


def protocol_options() -> list[tuple[str, str]]:
    return sorted(((p, m.name) for p, m in manifests.manifests().items()), key=lambda o: o[0])


def protocol_name(protocol: str) -> str:
    m = manifests.manifests().get(protocol)
    return _(m.name) if m is not None else protocol


def takes_token(protocol: str) -> bool:
    m = manifests.manifests().get(protocol)
    return m is not None and m.mode == "api"


# -- state and time -----------------------------------------------------------------------------------


def live_state(device: Device, status: DeviceStatus | None) -> str:
    if not device.enabled:
        return "disabled"
    return status.state if status is not None else "unknown"


def _state_sql() -> Any:
    return case((Device.enabled.is_(False), "disabled"), (DeviceStatus.state.is_(None), "unknown"),
                else_=DeviceStatus.state)


def ago(when: datetime | None, now: datetime | None = None) -> str:
    if when is None:
        return "—"
    seconds = max(0.0, ((now or datetime.now(UTC)) - when).total_seconds())
    if seconds < 90:
        return _("%(n)s s ago", n=int(seconds))
    if seconds < 90 * 60:
        return _("%(n)s min ago", n=int(seconds // 60))
    if seconds < 36 * 3600:
        return _("%(n)s h ago", n=int(seconds // 3600))
    return _("%(n)s d ago", n=int(seconds // 86_400))


def when(ts: datetime | None) -> str:
    """A moment as the plant reads it: plant time (``PLANTGUARD_PLANT_TZ``, default
    Asia/Shanghai), which is what people on site compare with their watches and logs."""
    from plantguard.timeseries.alignment.times import plant_tz

    if ts is None:
        return "—"
    aware = ts if ts.tzinfo else ts.replace(tzinfo=UTC)
    return aware.astimezone(plant_tz()).strftime("%Y-%m-%d %H:%M:%S")


def _int_param(raw: str | None) -> int | None:
    return int(raw) if raw and raw.isdigit() and len(raw) <= 18 else None


def _text_param(raw: str | None, limit: int = 60) -> str:
    return clean_text(raw or "").strip()[:limit]


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _common() -> dict[str, Any]:
    return {"state_label": state_label, "reason_label": reason_label, "dfield": field_label, "ago": ago,
            "when": when, "protocol_name": protocol_name}


# -- the device form ------------------------------------------------------------------------------------


def form_values(form: FormData) -> dict[str, Any]:
    """The form as typed (for showing it again)."""
    values: dict[str, Any] = {k: clean_text(str(form.get(k) or "")) for k in FORM_FIELDS if k != "enabled"}
    values["enabled"] = form.get("enabled") in ("on", "true", "1")
    return values


def device_values(d: Device) -> dict[str, Any]:
    return {"code": d.code, "name": d.name, "protocol": d.protocol, "enabled": d.enabled,
            "poll_interval_s": f"{d.poll_interval_s:g}", "notes": d.notes,
            "connection": to_yaml(d.connection, block=True), "points": to_yaml(d.points), "rules": to_yaml(d.rules)}


def save_device(session: Session, actor: Actor, values: dict[str, Any],
                obj: Device | None) -> tuple[Device | None, list[FieldError]]:
    """Create (``obj`` None) or update a device from the form; the saved device, or every
    error found: YAML and shapes, the schema's checks, then the manifest's and the service's.
    A text area that is not YAML does not hide the errors of the others. The caller commits
    or rolls back."""
    creating = obj is None
    data: dict[str, Any] = {"enabled": values["enabled"], "notes": values["notes"]}
    if creating:
        data["code"] = values["code"]
        data["protocol"] = values["protocol"]
    if values["name"].strip():
        data["name"] = values["name"]
    if values["poll_interval_s"].strip():
        data["poll_interval_s"] = values["poll_interval_s"].strip()
    errors: list[FieldError] = []
    broken: set[str] = set()
    for name in CONFIG_FIELDS:
        parsed, problems = parse_config_text(name, values[name])
        if problems:
            errors += problems
            broken.add(name)
            parsed = CONFIG_SHAPES[name]()
        data[name] = parsed
    checked: DeviceCreate | DeviceUpdate
    try:
        checked = DeviceCreate.model_validate(data) if creating else DeviceUpdate.model_validate(data)
    except ValidationError as exc:
        return None, errors + [e for e in pydantic_errors(exc, "") if e.field.split(".", 1)[0] not in broken]
    rules = list(data["rules"])
    if not errors:
        try:
            if obj is None:
                return device_service.create(session, actor, checked), []
            return device_service.update(session, actor, obj.id, checked), []
        except ValidationFailed as exc:
            return None, service_errors(exc, rules)
    merged = {"protocol": obj.protocol if obj is not None else values["protocol"],
              **checked.model_dump(exclude_unset=True)}
    try:
        validate_device(session, actor, merged)
    except ValidationFailed as exc:
        errors += [e for e in service_errors(exc, rules) if e.field.split(".", 1)[0] not in broken]
    return None, errors


def rule_problems(rules: list[Any]) -> list[FieldError]:
    """The rules' own errors with the rule engine's field paths (``rules.0.outputs.1.value``)."""
    if not rules:
        return []
    from plantguard.ingest.rules import RuleSet, RulesInvalid

    try:
        RuleSet.from_raw(rules, _standard_errors)
    except RulesInvalid as exc:
        return list(exc.errors)
    return []


def _standard_errors(errors: list[dict[str, Any]]) -> list[FieldError]:
    from plantguard.api.errors import field_errors_from_pydantic

    return [FieldError(e["field"], e["message"]) for e in field_errors_from_pydantic(errors)]


def service_errors(exc: ValidationFailed, rules: list[Any]) -> list[FieldError]:
    """The service's errors, with its summary of bad rules replaced by each rule's own errors."""
    detailed = rule_problems(rules)
    if not detailed:
        return list(exc.errors)
    return [e for e in exc.errors if e.field.split(".", 1)[0] != "rules"] + detailed


# -- the rule tester -----------------------------------------------------------------------------------


@dataclass
class TryOutcome:
    errors: list[ShownError] = field(default_factory=list)
    rule: str | None = None
    outputs: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[dict[str, str]] = field(default_factory=list)
    tried: bool = False


def try_sample(session: Session, enterprise_id: int, rules_text: str, sample: str) -> TryOutcome:
    from plantguard.ingest.rules import try_rules

    rules, problems = parse_config_text("rules", rules_text)
    if not problems and not rules:
        problems = [FieldError("rules", N_("Write at least one rule to try"))]
    if problems:
        return TryOutcome(errors=show_errors(problems, {"rules": rules_text}), tried=True)
    tried = try_rules(rules, sample, datetime.now(UTC), standard=_standard_errors)
    if tried.errors or tried.result is None:
        return TryOutcome(errors=show_errors(tried.errors, {"rules": rules_text}), tried=True)
    result = tried.result
    codes = {v.point for v in result.values}
    known = set(session.scalars(select(MeasurementPoint.code).where(
        MeasurementPoint.enterprise_id == enterprise_id, MeasurementPoint.code.in_(codes)))) if codes else set()
    outputs = [{"point": v.point, "ts": v.ts, "value": f"{v.value:.10g}", "rule": v.rule, "known": v.point in known}
               for v in result.values]
    rejects = [{"reason": reason_label(r.reason), "code": r.reason, "field": field_label(r.field), "message": r.text()}
               for r in result.rejections]
    return TryOutcome(rule=result.rule, outputs=outputs, rejects=rejects, tried=True)


# -- the simulator ------------------------------------------------------------------------------------


@dataclass
class SimMessage:
    ok: bool
    text: str


def _control(request: Request) -> ControlDir:
    from plantguard.simulator.control import default_control_dir

    return default_control_dir(runtime(request).settings.var_dir)


def _wait_for(control: ControlDir, done: Callable[[dict[str, Any]], bool], timeout: float = 2.0) -> None:
    """The simulator answers a command before it rewrites its status: wait briefly for the
    status to show the change, so the page shows what was just done."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = control.status()
        if status is None or done(status):
            return
        time.sleep(0.05)


def _active(status: dict[str, Any] | None) -> list[dict[str, Any]]:
    faults = (status or {}).get("faults") or []
    return [f for f in faults if isinstance(f, dict)]


def send_fault_command(control: ControlDir, action: str, fault: str | None, target: str | None) -> SimMessage:
    from plantguard.simulator.control import Command, ControlError, NotRunning
    from plantguard.simulator.faults import FAULTS

    try:
        result = control.send(Command(action=action, fault=fault, target=target), timeout=SIM_TIMEOUT_S)
    except NotRunning:
        return SimMessage(False, _("The simulator is not running; start it with “plantguard simulate”."))
    except ControlError as exc:
        return SimMessage(False, _("The simulator refused: %(detail)s", detail=str(exc)))
    except OSError as exc:
        return SimMessage(False, _("The simulator could not be reached: %(detail)s", detail=str(exc)))
    if action == "trigger":
        started = (result.get("started") or [{}])[0]
        kind, target_code = str(started.get("fault", fault)), str(started.get("target", target or ""))
        _wait_for(control, lambda s: any(f.get("fault") == kind and f.get("target") == target_code
                                         for f in _active(s)))
        info = FAULTS.get(kind)
        return SimMessage(True, _("Started: %(fault)s on %(target)s", fault=_(info.title) if info else kind,
                                  target=target_code))
    cleared = [(str(f.get("fault")), str(f.get("target"))) for f in result.get("cleared") or []]
    _wait_for(control, lambda s: not any((f.get("fault"), f.get("target")) in cleared for f in _active(s)))
    return SimMessage(True, _("Faults cleared: %(n)s", n=len(cleared)))


# -- the pages ---------------------------------------------------------------------------------------------


def mount(app: FastAPI) -> None:
    """Add the pages to the console (once, however often it is called)."""
    if getattr(app.state, "devices_pages", False):
        return
    app.state.devices_pages = True

    from plantguard.web.views import Page, _db

    async def load_form(request: Request) -> tuple[Page, FormData]:
        page = await Page.load(request)
        await request.form(max_part_size=MAX_FORM_PART)  # parsed once, with room for a YAML document
        form = await page.form()
        return page, form

    # -- list -----------------------------------------------------------------------------------

    @app.get("/devices", include_in_schema=False, response_class=HTMLResponse)
    def devices_page(request: Request, offset: WebOffset = 0) -> Response:
        page = Page(request)
        page.actor.require(Perm.READ)
        qp = request.query_params
        protocol = _text_param(qp.get("protocol"), 40)
        state = _text_param(qp.get("state"), 20)
        q = _text_param(qp.get("q"), 100)
        state_col = _state_sql()
        conds: list[Any] = [Device.enterprise_id == page.actor.enterprise_id]
        if protocol:
            conds.append(Device.protocol == protocol)
        if q:
            conds += device_service.filters({"q": q})
        with _db(request) as session:
            joined = select(Device, DeviceStatus).outerjoin(DeviceStatus, DeviceStatus.device_id == Device.id)
            counts: dict[str, int] = dict(session.execute(
                select(state_col, func.count()).select_from(Device)
                .outerjoin(DeviceStatus, DeviceStatus.device_id == Device.id).where(*conds).group_by(state_col)
            ).all())
            if state:
                conds.append(state_col == state)
            total = session.scalar(select(func.count()).select_from(Device)
                                   .outerjoin(DeviceStatus, DeviceStatus.device_id == Device.id).where(*conds)) or 0
            rows = session.execute(joined.where(*conds).order_by(Device.code, Device.id)
                                   .limit(PAGE_SIZE).offset(offset)).all()
            in_use = set(session.scalars(select(Device.protocol).distinct()
                                         .where(Device.enterprise_id == page.actor.enterprise_id)))
            any_device = bool(in_use)
        items = [{"d": d, "s": s, "state": live_state(d, s), "points": len(d.points or [])} for d, s in rows]
        options = protocol_options()
        options += [(p, p) for p in sorted(in_use - {o[0] for o in options})]
        args = {k: v for k, v in qp.items() if k != "offset"}
        query = urlencode({**args, "offset": offset}) if offset else urlencode(args)
        return render(request, "devices/list.html", **page.ctx(
            nav="devices", items=items, total=int(total), offset=offset, limit=PAGE_SIZE, protocol=protocol,
            state=state, q=q, counts=counts, states=STATES, protocols=options, any_device=any_device,
            filtered=bool(protocol or state or q), self_url="/devices" + (f"?{query}" if query else ""),
            page_url=lambda off: f"/devices?{urlencode({**args, 'offset': off})}", refresh_s=LIST_REFRESH_S,
            **_common()))

    # -- import / export ------------------------------------------------------------------------

    @app.get("/devices/export", include_in_schema=False)
    def devices_export(request: Request) -> Response:
        page = Page(request)
        with _db(request) as session:
            text = export_yaml(session, page.actor)
        name = f"plantguard-devices-{date.today():%Y%m%d}.yaml"
        return Response(text, media_type="application/yaml; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"',
                                 "Cache-Control": "no-store"})

    @app.get("/devices/import", include_in_schema=False, response_class=HTMLResponse)
    def import_page(request: Request) -> Response:
        page = Page(request)
        page.actor.require(Perm.WRITE_DEVICES)
        return render(request, "devices/import.html", **page.ctx(nav="devices", text="", errors=[], summary=None,
                                                                 **_common()))

    @app.post("/devices/import", include_in_schema=False, response_class=HTMLResponse)
    async def import_submit(request: Request) -> Response:
        page, form = await load_form(request)
        page.actor.require(Perm.WRITE_DEVICES)
        upload = form.get("file")
        text = clean_text(str(form.get("yaml") or "")) if not isinstance(form.get("yaml"), UploadFile) else ""
        problems: list[FieldError] = []
        if isinstance(upload, UploadFile) and upload.filename:
            raw = await upload.read(MAX_YAML_BYTES + 1)
            if len(raw) > MAX_YAML_BYTES:
                problems.append(FieldError("file", N_("The file is larger than %(limit)s MB"),
                                           {"limit": MAX_YAML_BYTES >> 20}))
            else:
                try:
                    text = raw.decode("utf-8-sig")
                except UnicodeDecodeError:
                    problems.append(FieldError("file", N_("The file must be UTF-8 text")))
        if not problems and not text.strip():
            problems.append(FieldError("file", N_("Choose a file or paste the YAML")))

        def run() -> Response:
            errors = list(problems)
            summary = None
            if not errors:
                try:
                    entries = parse_whole_file(text)
                    with _db(request, write=True) as session:
                        bind_actor(session, page.actor)
                        try:
                            summary = import_devices(session, page.actor, entries)
                            session.commit()
                        except ValidationFailed:
                            session.rollback()
                            raise
                except ValidationFailed as exc:
                    errors = list(exc.errors)
            shown = show_errors(errors, document=text)
            return render(request, "devices/import.html", status_code=422 if errors else 200, **page.ctx(
                nav="devices", text=text if errors else "", errors=shown, summary=summary, **_common()))

        return await run_in_threadpool(run)

    # -- new ------------------------------------------------------------------------------------

    @app.get("/devices/new", include_in_schema=False, response_class=HTMLResponse)
    def new_page(request: Request) -> Response:
        page = Page(request)
        page.actor.require(Perm.WRITE_DEVICES)
        protocol = _text_param(request.query_params.get("protocol"), 40)
        if protocol not in manifests.manifests():
            protocol = ""
        values = {"code": "", "name": "", "protocol": protocol, "enabled": True, "poll_interval_s": "1",
                  "notes": "", "connection": "", "points": "", "rules": ""}
        return render(request, "devices/form.html", **page.ctx(
            nav="devices", obj=None, values=values, errors={}, error_list=[], protocols=protocol_options(),
            help=protocol_help(protocol) if protocol else None, tester=None, sample="", **_common()))

    @app.get("/devices/help", include_in_schema=False, response_class=HTMLResponse)
    def help_fragment(request: Request) -> Response:
        page = Page(request)
        protocol = _text_param(request.query_params.get("protocol"), 40)
        return render(request, "devices/_help.html", **page.ctx(help=protocol_help(protocol) if protocol else None))

    @app.post("/devices/new", include_in_schema=False, response_class=HTMLResponse)
    async def create(request: Request) -> Response:
        page, form = await load_form(request)
        page.actor.require(Perm.WRITE_DEVICES)
        values = form_values(form)

        def run() -> Response:
            with _db(request, write=True) as session:
                bind_actor(session, page.actor)
                saved, errors = save_device(session, page.actor, values, None)
                if saved is not None:
                    session.commit()
                    return RedirectResponse(f"/devices/{saved.id}", status_code=303)
                session.rollback()
            shown = show_errors(errors, {k: values[k] for k in CONFIG_FIELDS})
            protocol = values["protocol"] if values["protocol"] in manifests.manifests() else ""
            return render(request, "devices/form.html", status_code=422, **page.ctx(
                nav="devices", obj=None, values=values, errors=by_area(shown), error_list=shown,
                protocols=protocol_options(), help=protocol_help(protocol) if protocol else None, tester=None,
                sample="", **_common()))

        return await run_in_threadpool(run)

    @app.post("/devices/rules/try", include_in_schema=False, response_class=HTMLResponse)
    async def try_new(request: Request) -> Response:
        page, form = await load_form(request)
        page.actor.require(Perm.WRITE_DEVICES)
        rules_text = clean_text(str(form.get("rules") or ""))
        sample = clean_text(str(form.get("sample") or ""))

        def run() -> Response:
            with _db(request) as session:
                outcome = try_sample(session, page.actor.enterprise_id, rules_text, sample)
            return render(request, "devices/_rule_try.html", status_code=200, **page.ctx(tester=outcome,
                                                                                         **_common()))

        return await run_in_threadpool(run)

    # -- detail and edit --------------------------------------------------------------------------

    def detail(request: Request, page: Page, session: Session, obj: Device, *, values: dict[str, Any] | None = None,
               shown: list[ShownError] | None = None, status_code: int = 200, token: str | None = None,
               tester: TryOutcome | None = None, sample: str = "") -> Response:
        status = session.get(DeviceStatus, obj.id)
        recent = session.scalars(select(QuarantinedInput).where(
            QuarantinedInput.enterprise_id == page.actor.enterprise_id, QuarantinedInput.device_id == obj.id)
            .order_by(QuarantinedInput.id.desc()).limit(RECENT_QUARANTINE)).all()
        rejected_total = session.scalar(select(func.count()).select_from(QuarantinedInput).where(
            QuarantinedInput.enterprise_id == page.actor.enterprise_id, QuarantinedInput.device_id == obj.id)) or 0
        shown = shown or []
        return render(request, "devices/detail.html", status_code=status_code, **page.ctx(
            nav="devices", obj=obj, status=status, state=live_state(obj, status), recent=recent,
            rejected_total=int(rejected_total), values=values or device_values(obj), errors=by_area(shown),
            error_list=shown, help=protocol_help(obj.protocol, with_rules=bool(obj.rules)),
            takes_token=takes_token(obj.protocol), token=token, tester=tester, sample=sample,
            show_tester=obj.protocol == "custom" or bool(obj.rules) or tester is not None,
            audit_entity=Device.audit_entity(), refresh_s=LIST_REFRESH_S, **_common()))

    @app.get("/devices/{item_id}", include_in_schema=False, response_class=HTMLResponse)
    def detail_page(request: Request, item_id: WebId) -> Response:
        page = Page(request)
        with _db(request) as session:
            obj = device_service.get(session, page.actor, item_id)
            return detail(request, page, session, obj)

    @app.post("/devices/{item_id}", include_in_schema=False, response_class=HTMLResponse)
    async def update(request: Request, item_id: WebId) -> Response:
        page, form = await load_form(request)
        page.actor.require(Perm.WRITE_DEVICES)
        values = form_values(form)

        def run() -> Response:
            with _db(request, write=True) as session:
                bind_actor(session, page.actor)
                obj = device_service.get(session, page.actor, item_id)
                saved, errors = save_device(session, page.actor, values, obj)
                if saved is not None:
                    session.commit()
                    return RedirectResponse(f"/devices/{item_id}", status_code=303)
                session.rollback()
                obj = device_service.get(session, page.actor, item_id)
                values.update(code=obj.code, protocol=obj.protocol)
                shown = show_errors(errors, {k: values[k] for k in CONFIG_FIELDS})
                return detail(request, page, session, obj, values=values, shown=shown, status_code=422)

        return await run_in_threadpool(run)

    @app.post("/devices/{item_id}/delete", include_in_schema=False)
    async def delete(request: Request, item_id: WebId) -> Response:
        page, _form = await load_form(request)
        page.actor.require(Perm.WRITE_DEVICES)

        def run() -> None:
            with _db(request, write=True) as session:
                bind_actor(session, page.actor)
                device_service.delete(session, page.actor, item_id)
                session.commit()

        await run_in_threadpool(run)
        return RedirectResponse("/devices", status_code=303)

    @app.post("/devices/{item_id}/token", include_in_schema=False, response_class=HTMLResponse)
    async def issue_token(request: Request, item_id: WebId) -> Response:
        page, _form = await load_form(request)
        page.actor.require(Perm.WRITE_DEVICES)

        def run() -> Response:
            with _db(request, write=True) as session:
                bind_actor(session, page.actor)
                token = device_service.issue_token(session, page.actor, item_id)
                session.commit()
                obj = device_service.get(session, page.actor, item_id)
                resp: Response
                if _is_htmx(request):
                    resp = render(request, "devices/_token.html", **page.ctx(obj=obj, token=token, takes_token=True))
                else:
                    resp = detail(request, page, session, obj, token=token)
                resp.headers["Cache-Control"] = "no-store"
                return resp

        return await run_in_threadpool(run)

    @app.post("/devices/{item_id}/rules/try", include_in_schema=False, response_class=HTMLResponse)
    async def try_device(request: Request, item_id: WebId) -> Response:
        page, form = await load_form(request)
        page.actor.require(Perm.WRITE_DEVICES)
        sample = clean_text(str(form.get("sample") or ""))
        sent = form.get("rules")

        def run() -> Response:
            with _db(request) as session:
                obj = device_service.get(session, page.actor, item_id)
                # The rules as they stand in the text area; without it (no script), the saved ones.
                rules_text = clean_text(str(sent)) if sent is not None else to_yaml(obj.rules)
                outcome = try_sample(session, page.actor.enterprise_id, rules_text, sample)
                if _is_htmx(request):
                    return render(request, "devices/_rule_try.html", **page.ctx(tester=outcome, **_common()))
                values = {**device_values(obj), "rules": rules_text}
                return detail(request, page, session, obj, values=values, tester=outcome, sample=sample)

        return await run_in_threadpool(run)

    # -- quarantine -------------------------------------------------------------------------------

    @app.get("/quarantine", include_in_schema=False, response_class=HTMLResponse)
    def quarantine_page(request: Request, offset: WebOffset = 0) -> Response:
        page = Page(request)
        page.actor.require(Perm.READ)
        qp = request.query_params
        device_id = _int_param(qp.get("device_id"))
        reason = _text_param(qp.get("reason"), 40)
        base = [QuarantinedInput.enterprise_id == page.actor.enterprise_id]
        if device_id is not None:
            base.append(QuarantinedInput.device_id == device_id)
        conds = [*base, QuarantinedInput.reason == reason] if reason else base
        with _db(request) as session:
            per_reason = session.execute(select(QuarantinedInput.reason, func.count()).where(*base)
                                         .group_by(QuarantinedInput.reason)
                                         .order_by(func.count().desc(), QuarantinedInput.reason)).all()
            total = session.scalar(select(func.count()).select_from(QuarantinedInput).where(*conds)) or 0
            rows = session.scalars(select(QuarantinedInput).where(*conds).order_by(QuarantinedInput.id.desc())
                                   .limit(PAGE_SIZE).offset(offset)).all()
            devices = session.execute(select(Device.id, Device.code, Device.name)
                                      .where(Device.enterprise_id == page.actor.enterprise_id)
                                      .order_by(Device.code)).all()
        names = {d.id: d.code for d in devices}
        reasons = sorted({*REASON_LABELS, *(r for r, _n in per_reason)})
        args = {k: v for k, v in qp.items() if k != "offset"}
        return render(request, "devices/quarantine.html", **page.ctx(
            nav="quarantine", rows=rows, total=int(total), offset=offset, limit=PAGE_SIZE, device_id=device_id,
            reason=reason, per_reason=per_reason, all_count=sum(n for _r, n in per_reason), devices=devices,
            names=names, reasons=reasons, page_url=lambda off: f"/quarantine?{urlencode({**args, 'offset': off})}",
            reason_url=lambda r: "/quarantine?" + urlencode(
                {k: v for k, v in (("device_id", device_id), ("reason", r)) if v}),
            **_common()))

    # -- simulator --------------------------------------------------------------------------------

    def simulator_page(request: Request, page: Page, message: SimMessage | None = None,
                       values: dict[str, str] | None = None, status_code: int = 200) -> Response:
        from plantguard.simulator.faults import FAULTS

        control = _control(request)
        status = control.status()
        with _db(request) as session:
            equipment = session.execute(select(Equipment.code, Equipment.name)
                                        .where(Equipment.enterprise_id == page.actor.enterprise_id)
                                        .order_by(Equipment.code).limit(1000)).all()
            areas = session.execute(select(Area.code, Area.name).where(Area.enterprise_id == page.actor.enterprise_id)
                                    .order_by(Area.code)).all()
        return render(request, "devices/simulator.html", status_code=status_code, **page.ctx(
            nav="simulator", running=status is not None, status=status or {}, active=_active(status), faults=FAULTS,
            equipment=equipment, areas=areas, message=message, values=values or {"fault": "", "target": ""},
            refresh_s=SIM_REFRESH_S, **_common()))

    @app.get("/simulator", include_in_schema=False, response_class=HTMLResponse)
    def simulator(request: Request) -> Response:
        page = Page(request)
        page.actor.require(Perm.READ)
        return simulator_page(request, page)

    @app.post("/simulator", include_in_schema=False, response_class=HTMLResponse)
    async def simulator_command(request: Request) -> Response:
        from plantguard.simulator.faults import FAULTS

        page, form = await load_form(request)
        page.actor.require(Perm.WRITE_DEVICES)
        action = str(form.get("action") or "")
        fault = _text_param(str(form.get("fault") or ""), 40) or None
        target = _text_param(str(form.get("target") or ""), 80) or None
        values = {"fault": fault or "", "target": target or ""}
        if action not in ("trigger", "clear"):
            message = SimMessage(False, _("Choose “Start” or “Clear”."))
        elif fault is not None and fault not in FAULTS:
            message = SimMessage(False, _("Unknown fault %(fault)s", fault=fault))
        elif action == "trigger" and fault is None:
            message = SimMessage(False, _("Choose the fault to start."))
        else:
            control = _control(request)
            message = await run_in_threadpool(send_fault_command, control, action, fault, target)
            if message.ok:
                values = {"fault": "", "target": ""}
        # htmx swaps only successful answers: a refusal is shown in the panel, so it is a 200 there.
        code = 200 if message.ok or _is_htmx(request) else 422
        return await run_in_threadpool(simulator_page, request, page, message, values, code)

