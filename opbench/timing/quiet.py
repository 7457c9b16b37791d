"""The quiet-machine guard: before each pass, a short idle window in which nothing of ours runs, to see whether
background work (a thread an implementation left behind, another process) would share the cores with the timed
calls.

Pairing in rounds cancels drift that hits every entry alike, not a busy core: a core taken by
background work stalls a two-thread OpenMP region (F.gelu) but not a one-thread call (cpp at small
sizes), so every ratio of that pass would be wrong. Two views of the window: the process's CPU time
(the kernel's, to the nanosecond: its own threads at work) and the machine's runnable tasks
(/proc/loadavg, sampled: other threads and processes). A pass that finds the machine busy after
RETRIES more windows is timed anyway and its rows say so ("busy: ...").
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass

SETTLE_S = 0.01  # before the window: OpenMP's spinning threads park
WINDOW_S = 0.02
SAMPLE_S = 0.002  # between readings of the runnable tasks
# Busy: the process used more than this many cores' worth of CPU time in the window (its own
# sampling costs about 0.03), or other runnable tasks averaged more than BUSY_TASKS.
BUSY_CORES = 0.1
BUSY_TASKS = 0.25
RETRIES = 2


def _runnable_tasks() -> int:
    """Tasks running or runnable on the machine now, the reader included (the 4th field of /proc/loadavg)."""
    with open("/proc/loadavg") as stream:
        return int(stream.read().split()[3].split("/")[0])


def _steal_and_total() -> tuple[int, int]:
    with open("/proc/stat") as stream:
        ticks = [int(v) for v in stream.readline().split()[1:]]
    return ticks[7], sum(ticks)


@dataclass(frozen=True)
class Background:
    """What an idle window saw."""

    process_cores: float  # this process's CPU time / window: its own threads at work
    other_tasks: float  # mean runnable tasks besides the reader: other threads and processes
    threads: tuple[str, ...]  # Python threads alive besides the main one
    steal: float  # fraction of the machine's time stolen by the host in the window (10 ms ticks)
    load: str  # /proc/loadavg's 1-minute load

    @property
    def busy(self) -> bool:
        return self.process_cores > BUSY_CORES or self.other_tasks > BUSY_TASKS

    def note(self) -> str:
        owners = Counter(name.split(":")[0] if name.startswith("left by ") else name for name in self.threads)
        listed = ", ".join(f"{count} {owner}" if count > 1 else owner for owner, count in owners.most_common(3))
        threads = f"threads: {listed}{', ...' if len(owners) > 3 else ''}" if owners else "no other Python thread"
        return (
            f"{self.process_cores:.2f} cores of CPU time in this process and {self.other_tasks:.2f} runnable tasks "
            f"besides it over an idle {1e3 * WINDOW_S:.0f} ms "
            f"({threads}; load {self.load}; steal {100 * self.steal:.0f}%)"
        )


def measure() -> Background:
    """One idle window, after SETTLE_S."""
    time.sleep(SETTLE_S)
    steal0, total0 = _steal_and_total()
    cpu0, wall0, samples = time.process_time(), time.perf_counter(), []
    while time.perf_counter() - wall0 < WINDOW_S:
        samples.append(_runnable_tasks() - 1)
        time.sleep(SAMPLE_S)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    steal1, total1 = _steal_and_total()
    with open("/proc/loadavg") as stream:
        load = stream.read().split()[0]
    main = threading.main_thread()
    return Background(
        process_cores=cpu / wall,
        other_tasks=sum(samples) / len(samples),
        threads=tuple(t.name for t in threading.enumerate() if t is not main),
        steal=(steal1 - steal0) / max(total1 - total0, 1),
        load=load,
    )


def guard() -> Background | None:
    """None when a window finds the machine quiet (after up to RETRIES more tries), else the last busy one."""
    for _ in range(1 + RETRIES):
        try:
            seen = measure()
        except OSError:  # no /proc: nothing to see with
            return None
        if not seen.busy:
            return None
    return seen
