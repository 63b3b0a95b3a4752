"""GET /status from observations: rates and latencies over the window, up and down from the
beacons, Burrow-style lag trends, the bottleneck, and warnings of the last 5 minutes."""

from common.model.timeutil import format_bucket
from common.monitoring.beacons import Beacon
from common.monitoring.stages import STAGE_TABLE, STAGES, TITLES
from common.monitoring.status import (
    DOWN_AFTER_S,
    Counts,
    Observation,
    Window,
    build_status,
    counts,
    increase,
    quantile,
)
from common.storage.batch_runs import RunRecord

T0 = 1_800_000_000.0


def beacon(stage: str, at: float, instance: str | None = None, **fields) -> Beacon:
    fields.setdefault("started_at", T0 - 100)
    fields.setdefault("samples", {})
    return Beacon(
        stage=stage,
        instance=instance or stage,
        host="h",
        pid=fields.pop("pid", 1),
        updated_at=at,
        **fields,
    )


def observation(at: float, *beacons: Beacon, **fields) -> Observation:
    fields.setdefault("ends", {0: 0})
    return Observation(at=at, beacons={b.key: b for b in beacons}, **fields)


def everyone(at: float, samples: dict[str, dict[str, float]] | None = None) -> list[Beacon]:
    samples = samples or {}
    return [beacon(s, at, samples=samples.get(s, {})) for s in ("ingest", "archiver", "speed")] + [
        beacon("batch", at, instance="scheduler", samples=samples.get("batch", {})),
        beacon("serving", at, samples=samples.get("serving", {})),
    ]


def stage_of(status: dict, name: str) -> dict:
    return next(s for s in status["stages"] if s["stage"] == name)


def codes(status: dict) -> set[tuple[str, str]]:
    return {(w["code"], w["stage"]) for w in status["warnings"]}


def test_quantiles_interpolate_within_the_bucket_as_prometheus_does():
    buckets = {0.1: 50.0, 0.2: 90.0, 0.5: 100.0, float("inf"): 100.0}
    assert quantile(0.5, buckets) == 0.1
    assert abs(quantile(0.7, buckets) - 0.15) < 1e-9
    assert abs(quantile(0.99, buckets) - 0.47) < 1e-9
    assert quantile(0.5, {0.1: 0.0, float("inf"): 0.0}) is None
    assert quantile(0.99, {0.1: 0.0, float("inf"): 5.0}) == 0.1  # all above the last bound


def test_throughput_utilisation_and_latency_are_taken_over_the_window():
    def samples(events: float, busy: float, fast: float, total: float) -> dict:
        return {
            'lambda_ingest_events_total{outcome="accepted"}': events,
            'lambda_ingest_events_total{outcome="invalid"}': 7.0,
            "lambda_busy_seconds_total": busy,
            'lambda_http_request_seconds_bucket{le="0.01",route="/events"}': fast,
            'lambda_http_request_seconds_bucket{le="0.1",route="/events"}': total,
            'lambda_http_request_seconds_bucket{le="+Inf",route="/events"}': total,
            'lambda_http_request_seconds_bucket{le="+Inf",route="/health"}': 1000.0,
        }

    first = observation(T0, beacon("ingest", T0, samples=samples(1000, 5, 10, 10)))
    last = observation(
        T0 + 10, beacon("ingest", T0 + 10, samples=samples(51000, 7.5, 60, 110), processes=2)
    )
    ingest = stage_of(build_status([first, last], []), "ingest")
    assert ingest["throughput"] == 5000.0  # (51000 - 1000) / 10 s, accepted only
    assert ingest["utilisation"] == 0.125  # 2.5 s busy in 10 s over 2 worker processes
    # 100 requests in the window: 50 under 10 ms, the rest under 100 ms
    assert ingest["latency_ms"] == {"p50": 10.0, "p99": 98.2}
    assert ingest["up"] and ingest["instances"][0]["processes"] == 2


def test_a_process_that_restarted_in_the_window_counts_from_zero():
    before = beacon("speed", T0, samples={"lambda_speed_records_total": 9000.0})
    after = beacon(
        "speed", T0 + 10, started_at=T0 + 5, samples={"lambda_speed_records_total": 300.0}
    )
    status = build_status([observation(T0, before), observation(T0 + 10, after)], [])
    assert stage_of(status, "speed")["throughput"] == 60.0  # 300 in the 5 s it ran


def test_a_stage_without_a_live_process_is_down_and_a_dead_replica_is_named():
    now = T0 + 20
    live = everyone(now)
    stale = beacon("speed", now - DOWN_AFTER_S - 1, instance="speed-2", pid=2)
    status = build_status([observation(now, *live, stale)], [])
    assert stage_of(status, "speed")["up"]
    assert ("instance_down", "speed") in codes(status)
    # every replica gone: the stage is down, whether it died or was stopped
    stopped = beacon("speed", now, stopped=True)
    others = [b for b in live if b.stage != "speed"]
    status = build_status([observation(now, *others, stale, stopped)], [])
    assert not stage_of(status, "speed")["up"]
    assert ("down", "speed") in codes(status)
    assert [s["stage"] for s in status["stages"]] == list(STAGES)


def test_the_broker_is_down_when_its_end_offsets_cannot_be_read():
    status = build_status([observation(T0, *everyone(T0), ends=None)], [])
    assert not stage_of(status, "broker")["up"]
    assert ("down", "broker") in codes(status)


def test_a_restart_after_a_death_is_a_warning_for_five_minutes():
    restarted = beacon("archiver", T0, started_at=T0 - 10, restarted=True, starts=2)
    others = [b for b in everyone(T0) if b.stage != "archiver"]
    assert ("restarted", "archiver") in codes(
        build_status([observation(T0, restarted, *others)], [])
    )
    long_ago = beacon("archiver", T0, started_at=T0 - 400, restarted=True, starts=2)
    assert ("restarted", "archiver") not in codes(
        build_status([observation(T0, long_ago, *others)], [])
    )


def _lag_series(lags: list[int], offsets: list[int], rate: int = 100) -> list[Observation]:
    return [
        observation(
            T0 + i,
            *everyone(T0 + i),
            ends={0: rate * i},
            speed_lag=lag + 7,  # (7 lost to retention: never read, never trending)
            speed_behind=lag,
            speed_offsets=offset,
        )
        for i, (lag, offset) in enumerate(zip(lags, offsets, strict=True))
    ]


def test_lag_that_keeps_growing_is_falling_behind_and_offsets_that_stop_are_stalled():
    # the speed layer stopped: its offsets stay, the topic grows 100 a second
    history = _lag_series([100, 200, 300, 400, 500, 600], [50] * 6)
    assert {("lag_growing", "speed"), ("stalled", "speed")} <= codes(build_status(history, []))


def test_lag_that_touched_zero_or_only_wobbles_under_load_is_fine():
    touched = _lag_series([100, 200, 0, 300, 400, 500], [50, 60, 70, 80, 90, 100])
    assert not codes(build_status(touched, [])) & {("lag_growing", "speed")}
    # a consumer that keeps up: rises smaller than 2 s of input (200), offsets moving
    wobble = _lag_series([100, 120, 150, 150, 180, 200], [50, 150, 250, 350, 450, 550])
    assert not codes(build_status(wobble, []))
    # too short a trend (under 4 s) says nothing yet
    short = _lag_series([100, 300, 500, 700], [50] * 4)
    assert not codes(build_status(short, []))


def _with_batch(interval: float, computed_ago: float | None) -> dict:
    samples = {"batch": {"lambda_batch_interval_seconds": interval}}
    computed = None if computed_ago is None else format_bucket(int((T0 - computed_ago) * 1000))
    return build_status(
        [
            observation(at, *everyone(at, samples), batch_version="v", batch_computed_at=computed)
            for at in (T0 - 5, T0)
        ],
        [],
    )


def test_a_batch_older_than_twice_its_interval_is_a_warning():
    assert ("batch_stale", "batch") in codes(_with_batch(10, 25))
    assert ("batch_stale", "batch") not in codes(_with_batch(10, 15))
    assert ("batch_stale", "batch") not in codes(_with_batch(0, 10_000))  # no schedule
    stale = _with_batch(10, 25)
    assert stale["bottleneck"]["stage"] == "batch"  # only named when it falls behind


def _counts(at: float, rejected: float, errors: float, started_at: float = T0 - 1000) -> Counts:
    return Counts(
        at,
        {
            ("archiver", "archiver--archiver", started_at): (rejected, 0),
            ("serving", "serving--serving", started_at): (0, errors),
        },
    )


def test_rejected_records_errors_and_failed_runs_of_the_last_five_minutes_are_warnings():
    recent = [_counts(T0 - 200, 3, 0), _counts(T0 - 100, 5, 0), _counts(T0, 5, 2)]
    failed = RunRecord(
        "r1", "interval", "failed", format_bucket(int((T0 - 60) * 1000)), error="Spark died"
    )
    status = build_status([observation(T0, *everyone(T0), runs=(failed,))], recent)
    assert {("rejected", "archiver"), ("errors", "serving"), ("batch_failed", "batch")} <= codes(
        status
    )
    message = next(w["message"] for w in status["warnings"] if w["code"] == "rejected")
    assert message.startswith("2 records")
    quiet = [_counts(T0 - 100, 5, 2), _counts(T0, 5, 2)]  # counted before, nothing new
    assert not codes(build_status([observation(T0, *everyone(T0))], quiet))


def test_counters_grow_process_by_process_and_a_restart_counts_from_zero():
    old = ("speed", "speed--speed", T0 - 1000)
    new = ("speed", "speed--speed", T0 - 50)  # restarted after the first of these counts
    recent = [
        Counts(T0 - 100, {old: (10, 0)}),
        Counts(T0 - 60, {old: (12, 0)}),
        Counts(T0, {new: (3, 0), ("ingest", "ingest--ingest", T0 - 500): (0, 4)}),
    ]
    assert increase(recent, 0) == 2 + 3
    assert increase(recent, 0, "ingest") == 0
    assert increase([], 0) == 0


def test_counts_take_rejected_records_once_and_5xx_answers_per_process():
    found = counts(
        observation(
            T0,
            beacon("archiver", T0, samples={'lambda_archiver_records_total{kind="rejected"}': 4}),
            beacon("speed", T0, samples={"lambda_speed_rejected_total": 3}),
            beacon(
                "serving",
                T0,
                samples={
                    'lambda_http_requests_total{route="/views/{name}",status="503"}': 2,
                    'lambda_http_requests_total{route="/views/{name}",status="200"}': 50,
                },
            ),
        )
    )
    assert found.processes[("archiver", "archiver--archiver", T0 - 100)] == (4, 0)
    # the speed layer reads the same records (and may again): only the archiver's count counts
    assert found.processes[("speed", "speed--speed", T0 - 100)] == (0, 0)
    assert found.processes[("serving", "serving--serving", T0 - 100)] == (0, 2)


def test_the_bottleneck_is_the_busiest_streaming_stage_or_the_one_falling_behind():
    def busy_samples(fractions: dict[str, float], at: float) -> dict:
        return {s: {"lambda_busy_seconds_total": f * (at - T0)} for s, f in fractions.items()}

    fractions = {"ingest": 0.3, "archiver": 0.1, "speed": 0.7, "serving": 0.2, "batch": 1.0}
    history = [
        observation(T0 + i, *everyone(T0 + i, busy_samples(fractions, T0 + i))) for i in (0, 10)
    ]
    found = build_status(history, [])["bottleneck"]
    assert (found["stage"], found["saturated"]) == ("speed", True)
    assert found["reason"] == "busy 70% of the time"

    # the archiver falls behind: it is named though it is less busy
    history = [
        observation(
            T0 + i,
            *everyone(T0 + i, busy_samples(fractions, T0 + i)),
            ends={0: 1000 * i},
            archive_lag=100 + 1000 * i,
            archived=5,
        )
        for i in range(6)
    ]
    found = build_status(history, [])["bottleneck"]
    assert found["stage"] == "archiver"
    assert "falling behind" in found["reason"]


def test_the_status_names_the_freshness_of_both_layers():
    buckets = {
        'lambda_speed_freshness_seconds_bucket{le="0.25"}': 0,
        'lambda_speed_freshness_seconds_bucket{le="0.5"}': 100,
        'lambda_speed_freshness_seconds_bucket{le="+Inf"}': 100,
    }
    first = observation(T0, *everyone(T0))
    last = observation(
        T0 + 5,
        *everyone(T0 + 5, {"speed": buckets}),
        speed_lag=0,
        batch_version="000003",
        batch_computed_at=format_bucket(int((T0 - 60) * 1000)),
        batch_events=1234,
    )
    freshness = build_status([first, last], [])["freshness"]
    assert freshness["batch"] == {"version": "000003", "age_seconds": 65.0, "events": 1234}
    assert freshness["speed"] == {"lag": 0, "visible_p99_ms": 497.5}


def test_the_window_forgets_observations_older_than_ten_seconds():
    history = [observation(T0 + i, *everyone(T0 + i)) for i in range(0, 30, 2)]
    window = Window(history)
    assert window.first.at == T0 + 18 and window.seconds == 10


def test_lag_that_only_a_batch_run_brings_down_is_no_trend():
    # offsets lost to retention, or an earlier generation's archive: the lag stays, unmoving
    history = [
        observation(T0 + i, *everyone(T0 + i), speed_lag=7, speed_behind=0, speed_offsets=50)
        for i in range(6)
    ]
    assert not codes(build_status(history, []))


def test_rates_are_timed_by_the_process_own_beacon_times():
    # the monitor looked 10 s apart, but the process wrote these 10.5 s apart
    before = beacon("speed", T0 - 0.9, samples={"lambda_speed_records_total": 0.0})
    after = beacon("speed", T0 + 9.6, samples={"lambda_speed_records_total": 1050.0})
    status = build_status([observation(T0, before), observation(T0 + 10, after)], [])
    assert stage_of(status, "speed")["throughput"] == 100.0


def test_the_status_carries_the_table_of_stage_names_in_the_order_of_its_stages():
    status = build_status([observation(T0, *everyone(T0))], [])
    assert status["stage_names"] == [{"stage": s.id, "title": s.title} for s in STAGE_TABLE]
    assert [n["stage"] for n in status["stage_names"]] == [s["stage"] for s in status["stages"]]
    assert TITLES["speed"] == "speed layer"  # as warnings name it, and the dashboard's box
