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
from common.model.conditions import Where, parse_where
from common.model.timeutil import GRANULARITIES

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
FIELD_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TYPE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
NUMERIC_KINDS = ("sum", "min", "max", "avg", "quantiles")
FIELD_KINDS = (*NUMERIC_KINDS, "distinct")
METRIC_KINDS = ("count", *FIELD_KINDS)
SIZED_KINDS = {"quantiles": (8, 65_535)}
"""Kinds that take the option ``k`` (their sketch's size), and its range."""
RESERVED = frozenset({"bucket", "id", "type", "ts"})
STORAGE_FORMAT = 2
"""Part of every fingerprint: data stored under another format (1: batch views without the
partition columns) is recomputed like a changed definition."""


@dataclass(frozen=True)
class Metric:
    """One output metric: its name, kind, the event field it reads (None for count), and the
    events it reads (``where``; None: all of the view's)."""

    name: str
    kind: str
    field: str | None
    where: Where | None = None
    k: int | None = None
    """A sketch's size (``quantiles``); None: the sketch's default."""

    @property
    def spec(self) -> str | dict[str, Any]:
        """The metric as views.yaml can write it."""
        if self.where is None and self.k is None:
            return self.kind if self.field is None else {self.kind: self.field}
        spec: dict[str, Any] = {"kind": self.kind}
        if self.field is not None:
            spec["field"] = self.field
        return {**spec, **self._options()}

    def definition(self) -> list[Any]:
        """What the metric's stored state depends on (unchanged for a metric without
        options, so that adding them recomputed no view)."""
        stored: list[Any] = [self.kind, self.field]
        if self._options():
            stored.append(self._options())
        return stored

    def _options(self) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if self.where is not None:
            options["where"] = self.where.spec()
        if self.k is not None:
            options["k"] = self.k
        return options


@dataclass(frozen=True)
class View:
    """A view: which events feed it, how they are grouped, and what is computed."""

    name: str
    event_type: str
    dimensions: tuple[str, ...]
    granularity: str
    metrics: tuple[Metric, ...]
    where: Where | None = None

    def numeric_fields(self) -> set[str]:
        """Fields this view reads as numbers."""
        return {m.field for m in self.metrics if m.kind in NUMERIC_KINDS and m.field}

    def definition(self) -> dict[str, Any]:
        """What the stored data depends on, normalised: not the view's name (a view is stored
        and looked up by name, so a renamed view is a new one anyway), nor the order of
        dimensions and metrics (stored columns are read by name)."""
        stored = {
            "event_type": self.event_type,
            "dimensions": sorted(self.dimensions),
            "granularity": self.granularity,
            "metrics": {m.name: m.definition() for m in sorted(self.metrics, key=_name)},
        }
        if self.where is not None:
            stored["where"] = self.where.spec()
        return stored

    def fingerprint(self) -> str:
        """A stable hash of :meth:`definition`: equal across processes, file layouts and key
        orders; different whenever the stored data would differ."""
        stored = {**self.definition(), "format": STORAGE_FORMAT}
        text = json.dumps(stored, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def describe(self) -> dict[str, Any]:
        """The view as the serving API lists it."""
        described = {
            "name": self.name,
            "event_type": self.event_type,
            "dimensions": list(self.dimensions),
            "granularity": self.granularity,
            "metrics": {m.name: m.kind for m in self.metrics},
        }
        if self.where is not None:
            described["where"] = self.where.spec()
        return described


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
    unknown = set(raw) - {"name", "event_type", "dimensions", "granularity", "metrics", "where"}
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
    condition = None
    if "where" in raw:
        condition = parse_where(raw["where"], where, "where", FIELD_RE, RESERVED)
    return View(name, event_type, dimensions, granularity, metrics, condition)


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


def _sketch_size(options: dict[str, Any], kind: str, view: str, name: str) -> int | None:
    """The option ``k`` of a kind that takes it (taken out of ``options``), validated."""
    if "k" not in options or kind not in SIZED_KINDS:
        return None
    k, (low, high) = options.pop("k"), SIZED_KINDS[kind]
    if not isinstance(k, int) or isinstance(k, bool) or not low <= k <= high:
        raise ViewsError(
            f"{view}: field 'metrics.{name}.k': expected a whole number from {low} to {high}, "
            f"got {k!r}"
        )
    return k


def _parse_metric(name: Any, spec: Any, where: str) -> Metric:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name) or name == "bucket" or "__" in name:
        raise ViewsError(
            f"{where}: field 'metrics': metric name {name!r} must match [a-z][a-z0-9_]*, "
            "without '__' (kept for state columns), and not be 'bucket'"
        )
    view, where = where, f"{where}: field 'metrics.{name}'"
    if spec == "count":
        return Metric(name, "count", None)
    if not isinstance(spec, dict):
        raise ViewsError(
            f"{where}: expected 'count', {{kind: field}} or {{kind: K, field: F, where: W}}, "
            f"got {spec!r}"
        )
    options = dict(spec)
    if "kind" in options:  # the long form
        kind, field = options.pop("kind"), options.pop("field", None)
    else:
        kinds = [key for key in options if key in METRIC_KINDS]
        if len(kinds) != 1:
            raise ViewsError(
                f"{where}: expected one kind of {', '.join(METRIC_KINDS)} as a key, or "
                f"'kind:', got {spec!r}"
            )
        kind = kinds[0]
        field = options.pop(kind)
    if kind not in METRIC_KINDS:
        raise ViewsError(f"{where}: unknown kind {kind!r} (kinds: {', '.join(METRIC_KINDS)})")
    if kind == "count":
        if field is not None:
            raise ViewsError(f"{where}: count reads no field, got {field!r}")
        field = None
    elif not isinstance(field, str) or not FIELD_RE.fullmatch(field) or field in RESERVED:
        raise ViewsError(
            f"{where}: {kind} needs a property name ([A-Za-z_][A-Za-z0-9_]*, not one of "
            f"{', '.join(sorted(RESERVED))}), got {field!r}"
        )
    condition = None
    if "where" in options:
        path = f"metrics.{name}.where"
        condition = parse_where(options.pop("where"), view, path, FIELD_RE, RESERVED)
    k = _sketch_size(options, kind, view, name)
    if options:
        raise ViewsError(f"{where}: unknown option {sorted(options, key=str)[0]!r} for {kind}")
    return Metric(name, kind, field, condition, k)
