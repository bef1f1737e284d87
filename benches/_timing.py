"""What the step benchmarks share: progress to stderr, and variants timed in alternating blocks.

Timing every variant in turn, a block of steps at a time, makes noise from other
work on a shared machine fall on all of them alike; each then reports the
median of its own step times.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any


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


def in_fresh_processes(script: str, argv: Sequence[str], n: int) -> list[dict[str, Any]]:
    """Run ``script --child *argv`` ``n`` times, one after another; each prints one JSON line.

    Step times depend on a process's allocator and cache state as much as on
    the code, so each fresh process is one sample.
    """
    out = []
    for i in range(n):
        log(f"process {i + 1}/{n}")
        cmd = [sys.executable, script, "--child", *argv]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode:
            raise SystemExit(f"a measuring process failed:\n{done.stderr}")
        out.append(json.loads(done.stdout))
    return out


def across_processes(
    per_process: Sequence[Mapping[str, float]], ratios: Mapping[str, tuple[str, str]]
) -> dict[str, Any]:
    """Median milliseconds per variant, and each ratio per process with its median."""
    names = list(per_process[0])
    each = [{k: ms[a] / ms[b] for k, (a, b) in ratios.items()} for ms in per_process]
    return {
        "ms_per_step": {n: round(statistics.median(p[n] for p in per_process), 3) for n in names},
        "ratios": {k: round(statistics.median(r[k] for r in each), 2) for k in ratios},
        "ratios_per_process": {k: [round(r[k], 2) for r in each] for k in ratios},
    }
