"""Checking answers sampled from a live pipeline while events are still being posted.

Every sampled answer must hold no more events than were posted (never a double count) and no
fewer than the answer before it showed (never a loss). The bound "posted" only means something
when it is read *after* the answer: the poster adds an event to its record before it posts it,
so by the time an answer is back, every event it can count is in the record. Read before the
query, an event posted while the query is in flight (which the answer may rightly include)
would look like a double count.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

Counts = tuple[int, ...]
Answer = tuple[Sequence[int], str]
"""What a sample yields: the counts an answer shows and a note to print when it is wrong."""


@dataclass
class Sampler:
    """Judges a series of answers against ``posted``: what was posted so far, per count, where
    the poster updates it *before* each post."""

    posted: Callable[[], Sequence[int]]
    problems: list[str] = field(default_factory=list)
    shown: Counts | None = None
    samples: int = 0

    def sample(self, ask: Callable[[], Answer]) -> Counts:
        """Ask for one answer, then read the ceiling, then judge; the answer's counts."""
        counts, note = ask()
        self.judge(tuple(counts), tuple(self.posted()), note)
        return tuple(counts)

    def judge(self, counts: Counts, ceiling: Counts, note: str) -> None:
        """Record what is wrong with ``counts`` given ``ceiling`` and the answers before."""
        if any(shown > most for shown, most in zip(counts, ceiling, strict=True)):
            self.problems.append(f"double counted: {counts} shown, only {ceiling} posted: {note}")
        if self.shown is not None and any(
            now < before for now, before in zip(counts, self.shown, strict=True)
        ):
            self.problems.append(f"lost events: {counts} shown after {self.shown}: {note}")
        self.shown = counts if self.shown is None else tuple(map(max, counts, self.shown))
        self.samples += 1
