"""Queries cut at their deadline: the watchdog interrupts DuckDB, a disarmed action never runs."""

import threading
import time

import duckdb
import pytest

from serving_layer.deadline import Deadline, QueryTimeout, Watchdog

ENDLESS = "SELECT count(*) FROM range(1000000000000) a"


@pytest.fixture
def watchdog():
    dog = Watchdog()
    yield dog
    dog.stop()


def test_an_armed_action_runs_at_its_time(watchdog):
    fired = threading.Event()
    watchdog.arm(time.monotonic() + 0.05, fired.set)
    assert fired.wait(5)


def test_a_disarmed_action_never_runs(watchdog):
    fired = threading.Event()
    token = watchdog.arm(time.monotonic() + 0.05, fired.set)
    watchdog.disarm(token)
    later = threading.Event()
    watchdog.arm(time.monotonic() + 0.1, later.set)  # runs after the disarmed one's time
    assert later.wait(5)
    assert not fired.is_set()


def test_a_statement_past_the_deadline_is_interrupted(watchdog):
    cursor = duckdb.connect().cursor()
    deadline = Deadline(0.2, watchdog)
    started = time.monotonic()
    with pytest.raises(QueryTimeout, match=r"longer than 0\.2 s"), deadline.running(cursor):
        cursor.sql(ENDLESS).fetchall()
    assert time.monotonic() - started < 5


def test_a_deadline_passed_already_runs_nothing(watchdog):
    cursor = duckdb.connect().cursor()
    deadline = Deadline(1e-9, watchdog)
    ran = []
    with pytest.raises(QueryTimeout), deadline.running(cursor):
        ran.append(1)
    assert ran == []


def test_a_statement_within_its_deadline_is_left_alone(watchdog):
    cursor = duckdb.connect().cursor()
    deadline = Deadline(5, watchdog)
    with deadline.running(cursor):
        assert cursor.sql("SELECT 42").fetchall() == [(42,)]
    # the action was disarmed: the cursor goes on answering after the deadline's time too
    assert cursor.sql("SELECT 1").fetchall() == [(1,)]
