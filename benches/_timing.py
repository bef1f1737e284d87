"""What the step benchmarks share: progress to stderr, and variants timed in alternating blocks.

Timing every variant in turn, a block of steps at a time, makes noise from other
work on a shared machine fall on all of them alike; each then reports the
median of its own step times.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Sequence


def log(*args: object) -> None:
    print(*args, file=sys.stderr, flush=True)


class Timed:
    """A variant: :meth:`work` does one step on batch ``i``; :meth:`step` times it."""

    name: str
    num_batches: int

    def __init__(self, name: str, num_batches: int) -> None:
        self.name = name
        self.num_batches = num_batches
        self.times: list[float] = []
        self.calls = 0

    def work(self, i: int) -> None:
        raise NotImplementedError

    def step(self, record: bool) -> None:
        i = self.calls % self.num_batches
        self.calls += 1
        start = time.perf_counter()
        self.work(i)
        if record:
            self.times.append(time.perf_counter() - start)

    def median_ms(self) -> float:
        return round(statistics.median(self.times) * 1e3, 3)


def run(cases: Sequence[Timed], steps: int, warmup: int, block: int) -> None:
    """``warmup`` untimed steps each, then ``steps`` timed steps each, ``block`` at a time."""
    for case in cases:
        for _ in range(warmup):
            case.step(record=False)
    done = 0
    while done < steps:
        n = min(block, steps - done)
        for case in cases:
            for _ in range(n):
                case.step(record=True)
        done += n
        log(
            f"  {done}/{steps}: " + ", ".join(f"{c.name} {c.times[-1] * 1e3:.2f} ms" for c in cases)
        )
