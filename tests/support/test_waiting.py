"""`wait_for` returns the condition's first truthy value, and fails naming what never came."""

import time

import pytest

from tests.support.waiting import wait_for


def test_it_returns_the_first_truthy_value_as_soon_as_it_comes():
    answers = iter([None, 0, "", {"state": "succeeded"}, "later"])
    assert wait_for(lambda: next(answers), 5, "an answer", interval_s=0) == {"state": "succeeded"}
    assert next(answers) == "later"


def test_a_condition_that_holds_at_once_is_called_once():
    calls = []
    assert wait_for(lambda: calls.append(1) or True, 0, "nothing") is True
    assert calls == [1]


def test_between_runs_after_each_miss():
    steps = []
    assert wait_for(
        lambda: len(steps) >= 3, 5, "three steps", interval_s=0, between=lambda: steps.append(1)
    )
    assert steps == [1, 1, 1]


def test_past_the_deadline_it_names_what_and_the_last_value():
    started = time.monotonic()
    with pytest.raises(
        AssertionError, match=r"timed out after 0.2s waiting for the run \(last: \[\]\)"
    ):
        wait_for(list, 0.2, "the run", interval_s=0.02)
    assert 0.2 <= time.monotonic() - started < 5


def test_an_error_in_the_condition_is_not_swallowed():
    def broken():
        raise KeyError("state")

    with pytest.raises(KeyError):
        wait_for(broken, 5, "a state")
