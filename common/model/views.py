"""View definitions: parsed once from views.yaml, validated, shared by all three layers."""

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from common.errors import ViewsError
from common.model.timeutil import GRANULARITIES

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
FIELD_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TYPE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
NUMERIC_KINDS = ("sum", "min", "max", "avg")
FIELD_KINDS = (*NUMERIC_KINDS, "distinct")
RESERVED = frozenset({"bucket", "id", "type", "ts"})
STORAGE_FORMAT = 2
"""Part of every fingerprint: data stored under another format (1: batch views without the
partition columns) is recomputed like a changed definition."""


@dataclass(frozen=True)
class Metric:
    """One output metric: its name, kind, and the event field it reads (None for count)."""

    name: str
    kind: str
    field: str | None

    @property
    def spec(self) -> str | dict[str, str]:
        """The metric as written in views.yaml."""
        return self.kind if self.field is None else {self.kind: self.field}


@dataclass(frozen=True)
class View:
    """A view: which events feed it, how they are grouped, and what is computed."""

    name: str
    event_type: str
    dimensions: tuple[str, ...]
    granularity: str
    metrics: tuple[Metric, ...]

    def numeric_fields(self) -> set[str]:
        """Fields this view reads as numbers."""
        return {m.field for m in self.metrics if m.kind in NUMERIC_KINDS and m.field}

    def definition(self) -> dict[str, Any]:
        """What the stored data depends on, normalised: not the view's name (a view is stored
        and looked up by name, so a renamed view is a new one anyway), nor the order of
        dimensions and metrics (stored columns are read by name)."""
        return {
            "event_type": self.event_type,
            "dimensions": sorted(self.dimensions),
            "granularity": self.granularity,
            "metrics": {m.name: [m.kind, m.field] for m in sorted(self.metrics, key=_name)},
        }

    def fingerprint(self) -> str:
        """A stable hash of :meth:`definition`: equal across processes, file layouts and key
        orders; different whenever the stored data would differ."""
        stored = {**self.definition(), "format": STORAGE_FORMAT}
        text = json.dumps(stored, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def describe(self) -> dict[str, Any]:
        """The view as the serving API lists it."""
        return {
            "name": self.name,
            "event_type": self.event_type,
            "dimensions": list(self.dimensions),
            "granularity": self.granularity,
            "metrics": {m.name: m.kind for m in self.metrics},
        }


@dataclass(frozen=True)
class Catalog:
    """All views of a views file, by name, in file order."""

    views: tuple[View, ...]

    def get(self, name: str) -> View | None:
        return next((v for v in self.views if v.name == name), None)

    def fingerprints(self) -> dict[str, str]:
        """Each view's fingerprint, by name: what batch versions and speed snapshots record."""
        return {view.name: view.fingerprint() for view in self.views}

    def changed(self, recorded: Mapping[str, str]) -> list[str]:
        """The views, in file order, whose definition ``recorded`` does not hold: new or
        changed since it was recorded (everything, for a record without fingerprints)."""
        return [v.name for v in self.views if recorded.get(v.name) != v.fingerprint()]

    def numeric_fields_by_type(self) -> dict[str, set[str]]:
        """For each event type, the fields some view sums, averages, or takes the min/max of."""
        fields: dict[str, set[str]] = {}
        for view in self.views:
            fields.setdefault(view.event_type, set()).update(view.numeric_fields())
        return fields


def _name(metric: Metric) -> str:
    return metric.name


def load_catalog(path: Path) -> Catalog:
    """Read and validate a views file; raise ViewsError naming the view and field at fault."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ViewsError(f"cannot read views file {path}: {exc.strerror}") from exc
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ViewsError(f"views file {path} is not valid YAML: {exc}") from exc
    return parse_catalog(document, source=str(path))


def parse_catalog(document: Any, source: str = "views file") -> Catalog:
    """Validate an already-parsed views document."""
    if not isinstance(document, dict) or not isinstance(document.get("views"), list):
        raise ViewsError(f"{source}: expected a top-level 'views:' list")
    if not document["views"]:
        raise ViewsError(f"{source}: 'views' is empty; define at least one view")
    views: list[View] = []
    for index, raw in enumerate(document["views"]):
        view = _parse_view(raw, f"{source}: view #{index + 1}")
        if any(v.name == view.name for v in views):
            raise ViewsError(f"{source}: view '{view.name}': field 'name': defined twice")
        views.append(view)
    return Catalog(tuple(views))


def _parse_view(raw: Any, where: str) -> View:
    if not isinstance(raw, dict):
        raise ViewsError(f"{where}: expected a mapping with name, event_type, metrics")
    name = raw.get("name")
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise ViewsError(f"{where}: field 'name': must match [a-z][a-z0-9_]*, got {name!r}")
    where = f"{where.split(': view #', maxsplit=1)[0]}: view '{name}'"
    unknown = set(raw) - {"name", "event_type", "dimensions", "granularity", "metrics"}
    if unknown:
        raise ViewsError(f"{where}: field '{sorted(unknown)[0]}': unknown field")
    event_type = raw.get("event_type")
    if not isinstance(event_type, str) or not TYPE_RE.fullmatch(event_type):
        raise ViewsError(
            f"{where}: field 'event_type': must be 1-100 characters of [A-Za-z0-9_.-], "
            f"got {event_type!r}"
        )
    granularity = raw.get("granularity")
    if granularity not in GRANULARITIES:
        raise ViewsError(
            f"{where}: field 'granularity': must be one of {', '.join(GRANULARITIES)}, "
            f"got {granularity!r}"
        )
    dimensions = _parse_dimensions(raw.get("dimensions", []), where)
    metrics = _parse_metrics(raw.get("metrics"), where)
    clash = set(dimensions) & {m.name for m in metrics}
    if clash:
        raise ViewsError(f"{where}: field 'metrics': '{sorted(clash)[0]}' is also a dimension")
    return View(name, event_type, dimensions, granularity, metrics)


def _parse_dimensions(raw: Any, where: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ViewsError(f"{where}: field 'dimensions': expected a list of field names")
    for dim in raw:
        if (
            not isinstance(dim, str)
            or not FIELD_RE.fullmatch(dim)
            or dim in RESERVED
            or "__" in dim
        ):
            raise ViewsError(
                f"{where}: field 'dimensions': {dim!r} is not a usable field name "
                f"([A-Za-z_][A-Za-z0-9_]* without '__', not one of {', '.join(sorted(RESERVED))})"
            )
    if len(set(raw)) != len(raw):
        raise ViewsError(f"{where}: field 'dimensions': a dimension is listed twice")
    return tuple(raw)


def _parse_metrics(raw: Any, where: str) -> tuple[Metric, ...]:
    if not isinstance(raw, dict) or not raw:
        raise ViewsError(f"{where}: field 'metrics': expected a mapping of name: kind")
    return tuple(_parse_metric(name, spec, where) for name, spec in raw.items())


def _parse_metric(name: Any, spec: Any, where: str) -> Metric:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name) or name == "bucket" or "__" in name:
        raise ViewsError(
            f"{where}: field 'metrics': metric name {name!r} must match [a-z][a-z0-9_]*, "
            "without '__' (kept for state columns), and not be 'bucket'"
        )
    if spec == "count":
        return Metric(name, "count", None)
    if isinstance(spec, dict) and len(spec) == 1:
        kind, field = next(iter(spec.items()))
        if kind in FIELD_KINDS:
            if not isinstance(field, str) or not FIELD_RE.fullmatch(field) or field in RESERVED:
                raise ViewsError(
                    f"{where}: field 'metrics.{name}': {kind} needs a property name "
                    f"([A-Za-z_][A-Za-z0-9_]*, not one of {', '.join(sorted(RESERVED))}), "
                    f"got {field!r}"
                )
            return Metric(name, kind, field)
    raise ViewsError(
        f"{where}: field 'metrics.{name}': expected 'count' or one of "
        f"{{sum|min|max|avg|distinct: field}}, got {spec!r}"
    )
