"""Large requests are checked in a worker process, with the same answers as on a thread."""

import asyncio
import os
import signal

import orjson
import pytest

from ingest.check_pool import INLINE_BYTES, CheckerGone, CheckPool
from ingest.checking import Refused

JSON = "application/json"


@pytest.fixture
def pool():
    checker = CheckPool(1)
    yield checker
    checker.close()


def check(pool: CheckPool, body: bytes):
    return asyncio.run(pool.check(body, JSON, {"purchase": {"amount"}}, 10_000, 0))


def large(events: list[dict]) -> bytes:
    body = orjson.dumps(events)
    assert len(body) > INLINE_BYTES
    return body


def test_a_large_request_is_checked_in_a_worker_process(pool):
    events = [{"type": "purchase", "id": f"e{i}", "pad": "x" * 100} for i in range(3_000)]
    checked = check(pool, large(events))
    assert checked.ids == [f"e{i}" for i in range(3_000)]
    assert checked.records[0][0] == b"e0"


def test_a_refusal_crosses_from_the_worker_whole(pool):
    events = [{"type": "purchase", "amount": "x", "pad": "x" * 100} for _ in range(3_000)]
    with pytest.raises(Refused) as caught:
        check(pool, large(events))
    assert caught.value.status == 422
    assert caught.value.body["problems"] == 3_000
    assert len(caught.value.body["detail"]) == 100
    assert (caught.value.outcome, caught.value.events) == ("invalid", 3_000)


def test_a_small_request_gives_the_same_answer_on_a_thread(pool):
    with pytest.raises(Refused) as caught:
        check(pool, orjson.dumps([{"type": "purchase", "amount": "x"}]))
    assert caught.value.body["problems"] == 1


def test_a_worker_that_dies_is_a_503_and_the_pool_starts_anew(pool):
    events = [{"type": "purchase", "pad": "x" * 100} for _ in range(3_000)]
    check(pool, large(events))  # a worker runs
    for pid in list(pool._pool._processes):
        os.kill(pid, signal.SIGKILL)
    with pytest.raises(CheckerGone):
        check(pool, large(events))
    assert len(check(pool, large(events)).ids) == 3_000


def test_requests_failed_by_one_dead_pool_replace_it_once_and_shut_it_down(pool):
    events = [{"type": "purchase", "pad": "x" * 100} for _ in range(3_000)]
    check(pool, large(events))
    broken = pool._pool
    for pid in list(broken._processes):
        os.kill(pid, signal.SIGKILL)
    started = []
    start = pool._start
    pool._start = lambda: started.append(start()) or started[-1]

    async def together() -> list[BaseException | object]:
        body = large(events)
        work = [pool.check(body, JSON, {}, 10_000, 0) for _ in range(3)]
        return await asyncio.gather(*work, return_exceptions=True)

    answers = asyncio.run(together())
    assert all(isinstance(answer, CheckerGone) for answer in answers)
    replacement = pool._pool
    assert replacement is not broken
    assert len(started) == 1  # not one new pool (and its workers) a failed request
    assert broken._shutdown_thread  # the broken pool was shut down, not left behind
    assert len(check(pool, large(events)).ids) == 3_000
    assert pool._pool is replacement  # one replacement for all three failures
