"""The sampler's two reads, with a post landing between them, deterministically."""

from tests.support.sampling import Answer, Sampler


class Stream:
    """A poster that records an event before posting it, and a pipeline that counts it."""

    def __init__(self) -> None:
        self.recorded = 0
        self.counted = 0

    def post(self, events: int) -> None:
        self.recorded += events
        self.counted += events

    def posted(self) -> tuple[int]:
        return (self.recorded,)

    def query_while_posting(self, extra: int = 0) -> Answer:
        """An answer that a post landing while it is in flight rightly includes."""
        self.post(5)
        return (self.counted + extra,), "in flight"


def ceiling_first(sampler: Sampler, stream: Stream) -> None:
    """The order the replicas test had: the ceiling read before the query."""
    ceiling = sampler.posted()
    counts, note = stream.query_while_posting()
    sampler.judge(tuple(counts), tuple(ceiling), note)


def test_reading_the_ceiling_before_the_answer_sees_a_double_count_that_is_not_there():
    stream = Stream()
    stream.post(10)
    sampler = Sampler(stream.posted)
    ceiling_first(sampler, stream)
    assert sampler.problems == ["double counted: (15,) shown, only (10,) posted: in flight"]


def test_reading_the_ceiling_after_the_answer_holds():
    stream = Stream()
    stream.post(10)
    sampler = Sampler(stream.posted)
    for _ in range(3):
        assert sampler.sample(stream.query_while_posting) == (stream.counted,)
    assert sampler.problems == []
    assert sampler.samples == 3


def test_a_real_double_count_and_a_loss_are_still_seen():
    stream = Stream()
    sampler = Sampler(stream.posted)
    sampler.sample(lambda: stream.query_while_posting(extra=1))
    assert sampler.problems == ["double counted: (6,) shown, only (5,) posted: in flight"]
    sampler.sample(lambda: ((2,), "after"))
    assert sampler.problems[1] == "lost events: (2,) shown after (6,): after"


def test_counts_are_judged_each_against_its_own_ceiling():
    sampler = Sampler(lambda: (3, 7))
    sampler.sample(lambda: ((3, 7), "equal"))
    sampler.sample(lambda: ((4, 1), "both wrong"))
    assert sampler.problems == [
        "double counted: (4, 1) shown, only (3, 7) posted: both wrong",
        "lost events: (4, 1) shown after (3, 7): both wrong",
    ]
