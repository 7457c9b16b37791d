"""The parent's witness of the blocks a child process times: plugin code can patch every clock in the process it runs
in, so the parent, which never imports it, sees each block begin and end and refuses times it did not see.

The child marks each timed block's start and end with a datagram on a Unix socket the parent handed
it (OPBENCH_WITNESS_FD); the kernel stamps each datagram with its clock as it is sent
(SO_TIMESTAMPNS), so neither the parent's scheduling nor anything in the child moves the stamps. A
block the child reports shorter than the stamps say (beyond the marks' own cost, measured on
CALIBRATION_PAIRS empty blocks when the child starts, and SLACK) fails its row; so does a row that
reports more timed blocks than the parent saw (a child that stopped marking). On a busy machine the
marking thread is often preempted right after a mark (sending it wakes the parent's reader) and waits
for a CPU outside its own clock's reach: a block's shortfall is excused up to the time the kernel says
that thread (the sender's main thread, SO_PASSCRED) waited on a run queue during it (/proc schedstat),
which plugin code cannot lower or fake without the real contention the quiet check reports.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import threading
from dataclasses import dataclass, field

ENV = "OPBENCH_WITNESS_FD"
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux's number where Python does not name it
CALIBRATION = "calibration"
CALIBRATION_PAIRS = 32
# A reported block may fall short of the witnessed one by the marks' cost plus this: what runs between
# a mark and the clock read (two calls), and a preemption there, which one block in a row may hit.
SLACK_S, SLACK_FRACTION = 5e-4, 0.05
# How a refused row's detail begins.
REFUSAL = "timer disagrees (the parent process saw"
# A row fails once this many of its blocks disagree (or all of them, when it has fewer).
DISAGREEING_BLOCKS = 2

_FD = os.environ.get(ENV)  # read once: unset (the usual case), marking costs one comparison
_channel: socket.socket | None = None
if _FD is not None:  # at import, long before any timed block: the empty blocks that measure the marks' cost
    _channel = socket.socket(fileno=int(_FD))
    for _ in range(CALIBRATION_PAIRS):
        _channel.send(json.dumps([CALIBRATION, None]).encode())
        _channel.send(json.dumps([CALIBRATION, 0.0]).encode())


def _send(message: list) -> None:
    _channel.send(json.dumps(message).encode())


def begin(label: tuple | None) -> None:
    """Mark the start of a timed block named `label` (a row's key; None: an unwitnessed block)."""
    if _FD is not None and label is not None:
        _send([list(label), None])


def end(label: tuple | None, seconds: float) -> None:
    """Mark the end of the block `label` began, with the seconds the child's clock gave it."""
    if _FD is not None and label is not None:
        _send([list(label), seconds])


@dataclass
class Seen:
    """What the parent saw of one label's blocks: how many, and the disagreeing ones, worst first."""

    blocks: int = 0
    disagreeing: list[tuple[float, float]] = field(default_factory=list)  # (reported, witnessed) seconds

    def problem(self) -> str | None:
        """Why the label's times cannot stand, None when they can."""
        if len(self.disagreeing) < min(DISAGREEING_BLOCKS, self.blocks):
            return None
        reported, witnessed = max(self.disagreeing, key=lambda pair: pair[1] - pair[0])
        return (
            f"{REFUSAL} a block take {1e3 * witnessed:.3g} ms that the timing "
            f"process reported as {1e3 * reported:.3g} ms; {len(self.disagreeing)} of {self.blocks} blocks)"
        )


class Witness:
    """The parent's end: a datagram socket whose peer a child inherits (env, pass_fds), read by a thread
    that keeps every mark with its kernel stamp; close() then seen() judges the blocks."""

    def __init__(self):
        self._mine, self._theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._mine.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self._mine.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self._marks: list[tuple[float, list, float | None]] = []  # (stamp, mark, sender's run-queue wait)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @property
    def pass_fds(self) -> tuple[int]:
        return (self._theirs.fileno(),)

    def env(self) -> dict[str, str]:
        return {**os.environ, ENV: str(self._theirs.fileno())}

    def _read(self) -> None:
        while True:
            data, ancillary, _, _ = self._mine.recvmsg(1 << 16, socket.CMSG_SPACE(16) + socket.CMSG_SPACE(12))
            if not data:  # close()'s end of marks
                return
            stamp = waited = None
            for level, kind, raw in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    seconds, nanoseconds = struct.unpack("qq", raw[:16])
                    stamp = seconds + nanoseconds * 1e-9
                elif level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    waited = run_queue_wait_s(struct.unpack("iII", raw[:12])[0])
            try:
                mark = json.loads(data)
            except ValueError:
                mark = None
            # An unstamped or malformed mark is not seen: its row then has blocks the parent did not see.
            if stamp is not None and isinstance(mark, list) and len(mark) == 2:
                self._marks.append((stamp, mark, waited))

    def close(self) -> None:
        """After the child has exited: stop reading once every mark it sent is in."""
        self._theirs.send(b"")
        self._reader.join()
        self._mine.close()
        self._theirs.close()

    def mark_cost_s(self) -> float:
        """The longest an empty calibration block looked: the marks' own cost."""
        return max(self._durations(CALIBRATION), default=0.0)

    def _durations(self, wanted) -> list[float]:
        return [witnessed for label, _, witnessed, _ in self._blocks() if label == wanted]

    def _blocks(self):
        """(label, reported, witnessed, waited seconds) of every block whose two marks arrived; waited: how much
        longer the sender had waited for a CPU by the end mark's arrival than by the start's (0 unknown).
        Read as each mark arrives, so it can include waits just after the block, never miss one in it."""
        started = {}
        for stamp, (label, seconds), waited in self._marks:
            key = tuple(map(str, label)) if isinstance(label, list) else str(label)
            if seconds is None:
                started[key] = (stamp, waited)
            elif key in started and isinstance(seconds, (int, float)):
                begun, waited_before = started.pop(key)
                known = waited is not None and waited_before is not None
                yield key, float(seconds), stamp - begun, waited - waited_before if known else 0.0

    def seen(self) -> dict[tuple, Seen]:
        """Every label's blocks as the parent saw them (the calibration's left out)."""
        allowed = self.mark_cost_s() + SLACK_S
        seen: dict[tuple, Seen] = {}
        for label, reported, witnessed, waited in self._blocks():
            if label == CALIBRATION:
                continue
            entry = seen.setdefault(label, Seen())
            entry.blocks += 1
            if reported < witnessed * (1 - SLACK_FRACTION) - allowed - waited:
                entry.disagreeing.append((reported, witnessed))
        return seen


def run_queue_wait_s(pid: int) -> float | None:
    """Seconds the main thread of process `pid` has waited on a run queue, runnable but not running (the
    second field of /proc/PID/schedstat); None where the kernel does not say."""
    try:
        with open(f"/proc/{pid}/schedstat") as stats:
            return int(stats.read().split()[1]) * 1e-9
    except (OSError, IndexError, ValueError):
        return None


def refusal(seen: Seen | None, rounds: int) -> str | None:
    """Why a row timed in `rounds` blocks cannot stand, given what the parent saw of them; None when it can."""
    blocks = seen.blocks if seen else 0
    if blocks < rounds:
        return f"{REFUSAL} {blocks} of the {rounds} blocks the timing process reported)"
    return seen.problem()
