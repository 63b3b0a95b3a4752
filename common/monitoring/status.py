"""``GET /status`` computed from what the monitor observed: per stage up or down, throughput,
latency, lag and utilisation; the bottleneck; the freshness of both layers; warnings.

Pure functions over a short history of :class:`Observation` (one a second): rates and
latency quantiles are taken over the last ``WINDOW_S`` seconds, as Prometheus's ``rate`` and
``histogram_quantile`` would; lag is judged as a trend over that window, in Burrow's way
(growing: never decreasing and never 0; stalled: offsets not moving while behind) rather
than against a fixed threshold.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from itertools import pairwise
from typing import Any

from common.model.timeutil import parse_rfc3339
from common.monitoring.beacons import Beacon
from common.monitoring.samples import parse_key
from common.monitoring.stages import TITLES, stage_names
from common.storage.batch_runs import RunRecord

WINDOW_S = 10.0
"""Rates, busy fractions and latencies are over this many seconds."""
TREND_S = 4.0
"""A lag trend is judged over at least this many seconds of observations."""
BEHIND_S = 2.0
"""Lag that grows by more than this many seconds of the topic's input is falling behind."""
DOWN_AFTER_S = 3.0
"""A beacon not rewritten for this long is a process that died."""
RECENT_S = 300.0
"""Restarts, rejected records and errors are reported this long."""
SATURATED = 0.5
"""Flink's line: a stage busier than this is near saturation."""


@dataclass(frozen=True)
class Observation:
    """What the monitor saw at one moment (``at``, Unix time)."""

    at: float
    beacons: dict[str, Beacon] = field(default_factory=dict)
    ends: dict[int, int] | None = None  # the topic's end offsets; None: broker unreachable
    ends_ms: float | None = None  # how long reading them took
    speed_lag: int | None = None  # what a merged answer lacks
    speed_behind: int | None = None  # ... of it, what reading the topic brings down
    speed_offsets: int = 0  # offsets the speed views are past, all partitions
    archive_lag: int | None = None
    archived: int = 0  # offsets the master dataset holds
    batch_lag: int | None = None  # archived offsets no batch version covers
    batch_version: str | None = None
    batch_computed_at: str | None = None
    batch_events: int = 0
    runs: tuple[RunRecord, ...] = ()
    members: tuple[dict[str, Any], ...] = ()  # speed replicas and their partitions
    rejected: dict[str, Any] | None = None
    damaged: dict[str, Any] | None = None  # quarantine.losses_status: moved aside, lost


@dataclass(frozen=True)
class Counts:
    """The counters the 5-minute warnings look at, per process incarnation (stage, beacon key
    and start time): rejected records, and answers with a 5xx status."""

    at: float
    processes: dict[tuple[str, str, float], tuple[float, float]] = field(default_factory=dict)


def counts(observation: Observation) -> Counts:
    """Rejected records (the archiver's count: every record is archived once, while the speed
    layer may read one again) and error answers counted so far by each live process."""
    found = {}
    for beacon in observation.beacons.values():
        rejected = _value(beacon, "lambda_archiver_records_total", kind="rejected")
        errors = sum(
            value
            for key, value in beacon.samples.items()
            if _parsed(key)[0] == "lambda_http_requests_total"
            and _parsed(key)[1].get("status", "").startswith("5")
        )
        found[(beacon.stage, beacon.key, beacon.started_at)] = (rejected, errors)
    return Counts(observation.at, found)


def increase(recent: list[Counts], index: int, stage: str | None = None) -> float:
    """How much a counter (0: rejected, 1: errors) grew over ``recent`` (of one stage's
    processes, or all), process by process: from its first sight, or from 0 for a process
    that started since."""
    if not recent:
        return 0.0
    first: dict[tuple[str, str, float], float] = {}
    last: dict[tuple[str, str, float], float] = {}
    for found in recent:
        for process, values in found.processes.items():
            if stage is None or process[0] == stage:
                first.setdefault(process, values[index])
                last[process] = values[index]
    since = recent[0].at
    return sum(
        max(0.0, value - (0.0 if process[2] >= since else first[process]))
        for process, value in last.items()
    )


# -- reading the samples -----------------------------------------------------------------
@lru_cache(maxsize=4096)
def _parsed(key: str) -> tuple[str, dict[str, str]]:
    return parse_key(key)


def _value(beacon: Beacon, name: str, **labels: str) -> float:
    """The sum of a beacon's samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for key, value in beacon.samples.items():
        found, have = _parsed(key)
        if found == name and all(have.get(k) == v for k, v in labels.items()):
            total += value
    return total


def _buckets(beacon: Beacon, name: str, **labels: str) -> dict[float, float]:
    """A histogram's cumulative bucket counts by upper bound, summed over other labels."""
    found: dict[float, float] = {}
    for key, value in beacon.samples.items():
        metric, have = _parsed(key)
        if metric != f"{name}_bucket" or not all(have.get(k) == v for k, v in labels.items()):
            continue
        bound = float(have["le"])
        found[bound] = found.get(bound, 0.0) + value
    return found


def quantile(q: float, buckets: dict[float, float]) -> float | None:
    """``histogram_quantile``: the q-quantile of cumulative bucket counts, interpolated
    linearly within its bucket; None without observations."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = q * buckets[bounds[-1]]
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


class Window:
    """The observations of the last ``WINDOW_S`` seconds, and rates over them."""

    def __init__(self, history: list[Observation]) -> None:
        self.last = history[-1]
        self.now = self.last.at
        inside = [o for o in history if o.at >= self.now - WINDOW_S]
        self.observations = inside
        self.first = inside[0]
        self.seconds = self.now - self.first.at

    def live(self, stage: str) -> list[Beacon]:
        return [b for b in self.last.beacons.values() if b.stage == stage and is_up(b, self.now)]

    def per_second(self, beacon: Beacon, name: str, **labels: str) -> float | None:
        """How fast a counter of ``beacon``'s process grew over the window, timed by the
        process's own beacon times (both from its clock: no skew with the monitor's, no drift
        between the two ticks). A process started in the window counts from 0 at its start;
        None when the window holds no span of it."""
        now = _value(beacon, name, **labels)
        before = self.first.beacons.get(beacon.key)
        if before is not None and before.started_at == beacon.started_at:
            grown = max(0.0, now - _value(before, name, **labels))
            span = beacon.updated_at - before.updated_at
        elif beacon.started_at >= self.first.at:
            grown, span = now, beacon.updated_at - beacon.started_at
        else:
            return None
        return grown / span if span > 0 else None

    def rate(self, beacons: list[Beacon], name: str, **labels: str) -> float | None:
        rates = [r for b in beacons if (r := self.per_second(b, name, **labels)) is not None]
        return sum(rates) if rates else None

    def busy(self, beacon: Beacon) -> float | None:
        """The fraction of the window the process was busy (its workers on average)."""
        rate = self.per_second(beacon, "lambda_busy_seconds_total")
        return None if rate is None else min(1.0, rate / max(1, beacon.processes))

    def latency_ms(self, beacons: list[Beacon], name: str, **labels: str) -> dict[str, Any] | None:
        """p50 and p99 of a histogram's observations in the window, in milliseconds."""
        grown: dict[float, float] = {}
        for beacon in beacons:
            now = _buckets(beacon, name, **labels)
            before = self.first.beacons.get(beacon.key)
            then = (
                _buckets(before, name, **labels)
                if before is not None and before.started_at == beacon.started_at
                else {}
            )
            for bound, count in now.items():
                grown[bound] = grown.get(bound, 0.0) + max(0.0, count - then.get(bound, 0.0))
        p50, p99 = quantile(0.5, grown), quantile(0.99, grown)
        if p50 is None or p99 is None:
            return None
        return {"p50": round(p50 * 1000, 2), "p99": round(p99 * 1000, 2)}


def is_up(beacon: Beacon, now: float) -> bool:
    return not beacon.stopped and now - beacon.updated_at < DOWN_AFTER_S


# -- the stages --------------------------------------------------------------------------
def _stage(
    name: str,
    up: bool,
    throughput: float | None = None,
    latency: dict[str, Any] | None = None,
    lag: int | None = None,
    utilisation: float | None = None,
    instances: list[dict[str, Any]] | None = None,
    detail: str = "",
) -> dict[str, Any]:
    return {
        "stage": name,
        "up": up,
        "throughput": None if throughput is None else round(throughput, 1),
        "latency_ms": latency,
        "lag": lag,
        "utilisation": None if utilisation is None else round(utilisation, 3),
        "instances": instances or [],
        "detail": detail,
    }


@dataclass(frozen=True)
class Measures:
    """Which of a stage's process metrics give its throughput (a counter of what it
    processed, with label values to keep) and its latency (a histogram)."""

    counter: str
    latency: str | None
    detail: str
    counter_labels: tuple[tuple[str, str], ...] = ()
    latency_labels: tuple[tuple[str, str], ...] = ()


MEASURES = {
    "ingest": Measures(
        "lambda_ingest_events_total",
        "lambda_http_request_seconds",
        "events accepted by POST /events",
        (("outcome", "accepted"),),
        (("route", "/events"),),
    ),
    "archiver": Measures(
        "lambda_archiver_records_total",
        "lambda_archiver_flush_seconds",
        "records written to the master dataset",
    ),
    "speed": Measures(
        "lambda_speed_records_total",
        "lambda_speed_batch_seconds",
        "records folded into the speed views (latency: one poll's fold)",
    ),
    "batch": Measures("lambda_batch_runs_total", None, "batch runs"),
    "serving": Measures(
        "lambda_serving_query_seconds_count",
        "lambda_serving_query_seconds",
        "view queries answered",
    ),
}
"""Per stage run by service processes: where its figures come from (one place to change)."""


def _instances(
    window: Window, stage: str, partitions: dict[str, list[int]] | None = None
) -> list[dict[str, Any]]:
    """Every process of a stage seen in the last 5 minutes, live or not."""
    measures = MEASURES[stage]
    found = []
    for beacon in sorted(window.last.beacons.values(), key=lambda b: b.instance):
        if beacon.stage != stage or window.now - beacon.updated_at > RECENT_S:
            continue
        up = is_up(beacon, window.now)
        rate = window.rate([beacon], measures.counter, **dict(measures.counter_labels))
        found.append(
            {
                "id": beacon.instance,
                "up": up,
                "stopped": beacon.stopped,
                "throughput": _round(rate) if up else None,
                "utilisation": _round(window.busy(beacon), 3) if up else None,
                "started_at": _iso(beacon.started_at),
                "restarts": beacon.starts - 1,
                "processes": beacon.processes,
                "partitions": None
                if partitions is None
                else partitions.get(f"{beacon.host}-{beacon.pid}", []),
            }
        )
    return found


def _busiest(window: Window, beacons: list[Beacon]) -> float | None:
    fractions = [f for b in beacons if (f := window.busy(b)) is not None]
    return max(fractions, default=None)


def _process_stage(
    window: Window, stage: str, lag: int | None, partitions: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A stage run by service processes, measured as ``MEASURES`` says."""
    measures = MEASURES[stage]
    live = window.live(stage)
    return _stage(
        stage,
        bool(live),
        window.rate(live, measures.counter, **dict(measures.counter_labels)),
        window.latency_ms(live, measures.latency, **dict(measures.latency_labels))
        if measures.latency
        else None,
        lag,
        _busiest(window, live),
        _instances(window, stage, partitions),
        measures.detail,
    )


def _batch_stage(window: Window) -> dict[str, Any]:
    """The batch layer: throughput and latency of its recent runs, busy while one runs."""
    runs = window.last.runs
    ended = [r for r in runs if r.state == "succeeded" and r.duration_s]
    running = next((r for r in runs if r.state == "running"), None)
    durations = sorted(r.duration_s for r in ended if r.duration_s)
    found = _process_stage(window, "batch", window.last.batch_lag)
    last = ended[0] if ended else None
    found["throughput"] = (
        round(last.events / last.duration_s, 1)
        if last and last.events and last.duration_s
        else None
    )
    found["latency_ms"] = (
        {"p50": round(_median(durations) * 1000, 1), "p99": round(durations[-1] * 1000, 1)}
        if durations
        else None
    )
    found["detail"] = (
        f"running run {running.id}" if running else "idle; throughput: events/s of the last run"
    )
    return found


def stages(window: Window) -> list[dict[str, Any]]:
    last = window.last
    owners = {
        member["id"].split("-", 1)[1]: member.get("partitions") or [] for member in last.members
    }
    return [
        _process_stage(window, "ingest", None),
        _stage(
            "broker",
            last.ends is not None,
            _topic_rate(window),
            _ends_latency(window),
            detail=f"{len(last.ends)} partitions" if last.ends is not None else "unreachable",
        ),
        _process_stage(window, "archiver", last.archive_lag),
        _process_stage(window, "speed", last.speed_lag, owners),
        _batch_stage(window),
        _process_stage(window, "serving", None),
    ]


def _topic_rate(window: Window) -> float | None:
    first, last = window.first.ends, window.last.ends
    if first is None or last is None or window.seconds <= 0:
        return None
    return sum(max(0, end - first.get(p, 0)) for p, end in last.items()) / window.seconds


def _ends_latency(window: Window) -> dict[str, Any] | None:
    taken = sorted(o.ends_ms for o in window.observations if o.ends_ms is not None)
    if not taken:
        return None
    return {"p50": round(_median(taken), 2), "p99": round(taken[-1], 2)}


def _median(values: list[float]) -> float:
    return values[len(values) // 2]


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- warnings ----------------------------------------------------------------------------
def _warning(
    code: str, severity: str, stage: str, message: str, instance: str | None = None
) -> dict[str, Any]:
    return {
        "code": code,
        "severity": severity,
        "stage": stage,
        "instance": instance,
        "message": message,
    }


def warnings(
    window: Window, found_stages: list[dict[str, Any]], recent: list[Counts]
) -> list[dict[str, Any]]:
    """Every condition an operator should look at now."""
    found = []
    for stage in found_stages:
        name = stage["stage"]
        if not stage["up"]:
            found.append(_warning("down", "error", name, _down_message(window, name)))
    found += _process_warnings(window)
    # (not the lag of earlier generations' archive or of offsets lost to retention: only a
    # batch run brings those down, so they never reach 0 and never move)
    found += _lag_warnings(window, "speed", lambda o: o.speed_behind, lambda o: o.speed_offsets)
    found += _lag_warnings(window, "archiver", lambda o: o.archive_lag, lambda o: o.archived)
    stale = _batch_stale(window)
    if stale:
        found.append(_warning("batch_stale", "warning", "batch", stale))
    found += _recent_warnings(window, recent)
    found += _damage_warnings(window.last.damaged)
    return found


def _damage_warnings(damaged: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Master files moved aside (until archived again) and losses (until accepted)."""
    if not damaged:
        return []
    found = []
    waiting = [q for q in damaged["quarantined"] if not q.get("archived_again")]
    if waiting:
        names = ", ".join(f"{q['path']} (offsets {q['first']}-{q['last']})" for q in waiting)
        found.append(
            _warning(
                "quarantined",
                "error",
                "archiver",
                f"master files that cannot be read were moved to quarantine/: {names}",
            )
        )
    open_losses = [r for r in damaged["lost"] if not r["accepted"]]
    if open_losses:
        ranges = ", ".join(
            f"generation {r['generation']} partition {r['partition']} offsets "
            f"{r['first']}-{r['last']}"
            for r in open_losses
        )
        found.append(
            _warning(
                "lost",
                "error",
                "batch",
                f"offsets in neither the log nor the archive: {ranges}; batch runs cover up "
                "to them until `make accept-loss`",
            )
        )
    return found


def _down_message(window: Window, stage: str) -> str:
    if stage == "broker":
        return "the broker does not answer"
    seen = [b.updated_at for b in window.last.beacons.values() if b.stage == stage]
    if not seen:
        return f"{TITLES[stage]} down: no process of it has reported"
    return f"{TITLES[stage]} down: last seen {window.now - max(seen):.0f} s ago"


def _process_warnings(window: Window) -> list[dict[str, Any]]:
    found = []
    for beacon in window.last.beacons.values():
        up = is_up(beacon, window.now)
        since_start = window.now - beacon.started_at
        if up and beacon.restarted and since_start < RECENT_S:
            found.append(
                _warning(
                    "restarted",
                    "warning",
                    beacon.stage,
                    f"{beacon.instance} restarted {since_start:.0f} s ago after it died "
                    f"(start #{beacon.starts})",
                    beacon.instance,
                )
            )
        silent = window.now - beacon.updated_at
        if not up and not beacon.stopped and silent < RECENT_S and window.live(beacon.stage):
            found.append(
                _warning(
                    "instance_down",
                    "warning",
                    beacon.stage,
                    f"{beacon.instance} died {silent:.0f} s ago (others of its stage run)",
                    beacon.instance,
                )
            )
    return found


def _lag_warnings(
    window: Window,
    stage: str,
    lag_of: Callable[[Observation], int | None],
    offsets_of: Callable[[Observation], int],
) -> list[dict[str, Any]]:
    """Burrow's rules over the observations since the lag was last 0 (in the window): the
    offsets did not move while records waited (stalled), or the lag never decreased and grew
    by more than ``BEHIND_S`` seconds of the topic's input (growing; smaller rises are the
    noise of a consumer that keeps up under load)."""
    since_zero: list[tuple[float, int, Any]] = []
    for observation in window.observations:
        lag = lag_of(observation)
        if lag is None:
            continue
        since_zero = [] if lag == 0 else since_zero
        if lag:
            since_zero.append((observation.at, lag, offsets_of(observation)))
    points = since_zero
    if len(points) < 2 or points[-1][0] - points[0][0] < TREND_S:
        return []
    seconds = points[-1][0] - points[0][0]
    lags = [lag for _, lag, _ in points]
    found = []
    input_rate = _topic_rate(window) or 0.0
    rising = all(b >= a for a, b in pairwise(lags))
    if rising and lags[-1] - lags[0] > max(0.0, BEHIND_S * input_rate):
        found.append(
            _warning(
                "lag_growing",
                "warning",
                stage,
                f"{TITLES[stage]} lag grew from {lags[0]} to {lags[-1]} over {seconds:.0f} s "
                "without ever decreasing",
            )
        )
    if points[0][2] == points[-1][2]:
        found.append(
            _warning(
                "stalled",
                "error",
                stage,
                f"{TITLES[stage]} offsets have not moved for {seconds:.0f} s "
                f"while {lags[-1]} records wait",
            )
        )
    return found


def _batch_stale(window: Window) -> str | None:
    """Why the batch views are older than twice the schedule's interval, if they are."""
    scheduler = window.live("batch")
    interval = max((_value(b, "lambda_batch_interval_seconds") for b in scheduler), default=0)
    if interval <= 0:
        return None
    last = window.last
    if last.batch_computed_at is None:
        since = min(b.started_at for b in scheduler)
        age = window.now - since
        return (
            f"no batch version yet, {age:.0f} s after the scheduler started "
            f"(interval {interval:g} s)"
            if age > 2 * interval
            else None
        )
    age = window.now - parse_rfc3339(last.batch_computed_at) / 1000
    if age <= 2 * interval:
        return None
    return f"the newest batch version is {age:.0f} s old, over twice the interval ({interval:g} s)"


def _recent_warnings(window: Window, recent: list[Counts]) -> list[dict[str, Any]]:
    rejected = increase(recent, 0)
    minutes = RECENT_S / 60
    found = []
    if rejected:
        found.append(
            _warning(
                "rejected",
                "warning",
                "archiver",
                f"{rejected:.0f} records on the topic that are not events in the last "
                f"{minutes:.0f} minutes (kept aside: /health lists them)",
            )
        )
    for stage in ("ingest", "serving"):
        errors = increase(recent, 1, stage)
        if errors:
            found.append(
                _warning(
                    "errors",
                    "warning",
                    stage,
                    f"{errors:.0f} HTTP answers with a 5xx status in the last "
                    f"{minutes:.0f} minutes",
                )
            )
    cutoff = window.now - RECENT_S
    for run in window.last.runs:
        if run.state == "failed" and _ended_at(run) >= cutoff:
            found.append(
                _warning(
                    "batch_failed", "error", "batch", f"batch run {run.id} failed: {run.error}"
                )
            )
    return found


def _ended_at(run: RunRecord) -> float:
    start = run.started_at or run.requested_at
    return parse_rfc3339(start) / 1000 + (run.duration_s or 0)


# -- the whole answer --------------------------------------------------------------------
def bottleneck(
    found_stages: list[dict[str, Any]], found_warnings: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """The stage closest to saturation: the busiest stage of the streaming path (a stage
    whose lag grows first), or the batch layer when its runs cannot keep to the schedule.
    A batch run is busy by nature, so it is only a bottleneck when it falls behind."""
    behind = {
        w["stage"] for w in found_warnings if w["code"] in ("lag_growing", "stalled", "batch_stale")
    }
    stale = "batch" in behind
    candidates = [
        s
        for s in found_stages
        if s["up"]
        and s["utilisation"] is not None
        and (s["stage"] != "batch" or stale)
        and s["stage"] != "broker"
    ]
    if not candidates:
        return None
    chosen = max(candidates, key=lambda s: (s["stage"] in behind, s["utilisation"]))
    busiest = max(
        (i for i in chosen["instances"] if i["utilisation"] is not None),
        key=lambda i: i["utilisation"],
        default=None,
    )
    reason = f"busy {chosen['utilisation'] * 100:.0f}% of the time"
    if chosen["stage"] == "batch":
        reason += "; its runs cannot keep to the schedule"
    elif chosen["stage"] in behind:
        reason += " and falling behind (its lag grows)"
    elif chosen["utilisation"] < SATURATED:
        reason += "; no stage is near saturation"
    return {
        "stage": chosen["stage"],
        "instance": busiest["id"] if busiest else None,
        "utilisation": chosen["utilisation"],
        "saturated": chosen["utilisation"] >= SATURATED or chosen["stage"] in behind,
        "reason": reason,
    }


def build_status(history: list[Observation], recent: list[Counts]) -> dict[str, Any]:
    """The ``GET /status`` answer from the observations so far (oldest first)."""
    window = Window(history)
    found_stages = stages(window)
    found_warnings = warnings(window, found_stages, recent)
    last = window.last
    speed = window.live("speed")
    visible = window.latency_ms(speed, "lambda_speed_freshness_seconds")
    batch_age = (
        None
        if last.batch_computed_at is None
        else round(window.now - parse_rfc3339(last.batch_computed_at) / 1000, 1)
    )
    return {
        "generated_at": _iso(last.at),
        "window_seconds": round(window.seconds, 1),
        "stages": found_stages,
        "bottleneck": bottleneck(found_stages, found_warnings),
        "freshness": {
            "batch": None
            if last.batch_version is None
            else {
                "version": last.batch_version,
                "age_seconds": batch_age,
                "events": last.batch_events,
            },
            "speed": {
                "lag": last.speed_lag,
                "visible_p99_ms": visible["p99"] if visible else None,
            },
        },
        "rejected": last.rejected,
        "damaged": last.damaged,
        "warnings": found_warnings,
        "stage_names": stage_names(),
    }
