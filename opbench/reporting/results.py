"""Result rows as long-format CSV: provenance on every row, atomic writes, re-runs replace rows with the same key."""

from __future__ import annotations

import csv
import dataclasses
import os
import sys
import tempfile
from pathlib import Path

import pandas as pd

from opbench.reporting.provenance import provenance
from opbench.spec.activations import DEFAULT as DEFAULT_OP

KINDS = ("check", "bench", "train", "profile", "accuracy")
# The version of the CSV rules, on every row written: 2 added `kind` and the keys with lr, batch
# size, epochs and threads; 3 the `op` column, first in every key (a file without it holds gelu rows).
# 4 the bench rows' `shape` and `layout`, in their key (a file without them holds 1-D contiguous rows).
# 5 the train rows' `max_batches` (0: every batch), in their key (a file without it trained on every
# batch), and the bench rows' `witness`. 6 every row's `cpp_isa`, the instruction set of cpp's CPU loops
# (a file without it did not record one). 7 the bench rows' `cache`, warm or cold, in their key (a file
# without it timed warm). Older files are read the same way.
SCHEMA = 7
# Columns that tell the kind of a CSV written before the kind column existed.
KIND_MARKERS = {"check": "check", "bench": "direction", "train": "epoch"}
# Columns of schema 2 that schema 3 names for any op.
RENAMED = {"gelu_s": "activation_s", "gelu_share": "activation_share"}
# Rows that differ in these were measured under different conditions: a report keeps them apart.
MACHINE = ["device_name", "cpu_model", "isa", "threads", "torch_version", "settings", "git_sha"]


# samples_s of a bench row: per-round seconds, ';' between rounds, '|' between passes (a file from before
# passes holds one pass).
ROUND_SEPARATOR, PASS_SEPARATOR = ";", "|"


def samples_text(passes: list[list[float]]) -> str:
    return PASS_SEPARATOR.join(ROUND_SEPARATOR.join(f"{s:.6g}" for s in rounds) for rounds in passes)


def samples_of(text: str) -> list[list[float]]:
    """The per-round values of a samples_s cell, pass by pass (samples_text read back)."""
    return [[float(v) for v in rounds.split(ROUND_SEPARATOR)] for rounds in text.split(PASS_SEPARATOR)]


def curve_text(cells: list[tuple[float, float, float]]) -> str:
    """The curve cell of an accuracy row: 'low,high,max_ulp' per bin of x, ';' between bins."""
    return ";".join(f"{low:.6g},{high:.6g},{ulps:.4g}" for low, high, ulps in cells)


def curve_of(text) -> list[tuple[float, float, float]]:
    """curve_text read back (an empty cell reads as nan: no bin over the floor)."""
    if not isinstance(text, str) or not text:
        return []
    return [tuple(float(v) for v in cell.split(",")) for cell in text.split(";")]


class ResultsError(ValueError):
    """A CSV that cannot be read or written as asked; the message names the file (and line)."""


def kind_of(frame: pd.DataFrame, path) -> str:
    if "kind" in frame and frame["kind"].notna().all():
        kinds = set(frame["kind"])
        if len(kinds) != 1 or not kinds <= set(KINDS):
            raise ResultsError(f"{path}: rows of kinds {', '.join(sorted(map(str, kinds)))} in one file")
        return kinds.pop()
    for kind, marker in KIND_MARKERS.items():
        if marker in frame:
            return kind
    raise ResultsError(f"{path}: not an opbench CSV (no kind column, none of {', '.join(KIND_MARKERS.values())})")


def load(path: str | Path) -> pd.DataFrame:
    """Read an opbench CSV, refusing a malformed or truncated one with its file and line."""
    path = Path(path)
    with open(path, newline="") as stream:
        reader = csv.reader(stream)
        header = next(reader, None)
        if not header:
            raise ResultsError(f"{path}: empty")
        for row in reader:
            if len(row) != len(header):
                raise ResultsError(
                    f"{path}:{reader.line_num}: {len(row)} fields where the header has {len(header)} "
                    "(truncated or malformed)"
                )
    frame = pd.read_csv(path)
    kind_of(frame, path)
    if "schema" in frame:  # older schemas are read as they are (RENAMED, the op column); newer ones refused
        versions = pd.to_numeric(frame["schema"], errors="coerce")
        if versions.isna().any() or versions.max() > SCHEMA:
            found = ", ".join(sorted(set(frame["schema"].astype(str))))
            raise ResultsError(
                f"{path}: rows of schema {found}, newer than this opbench's {SCHEMA} (or not a version): "
                "read it with the opbench that wrote it"
            )
    if "op" not in frame:  # written before ops other than GELU existed
        frame.insert(0, "op", DEFAULT_OP)
    if "numel" in frame and "shape" not in frame:  # bench rows from before shapes: 1-D and contiguous
        frame.insert(frame.columns.get_loc("numel") + 1, "shape", frame["numel"].astype(str))
        frame.insert(frame.columns.get_loc("shape") + 1, "layout", "contiguous")
    if "layout" in frame and "cache" not in frame:  # bench rows from before cold-cache timing: warm
        frame.insert(frame.columns.get_loc("layout") + 1, "cache", "warm")
    if "epoch" in frame and "max_batches" not in frame:  # train rows from before --max-batches was kept
        frame["max_batches"] = 0
    return frame.rename(columns=RENAMED)


def check_target(path: str | Path | None, kind: str) -> None:
    """Before any work: refuse to add rows of `kind` to a CSV that holds another kind."""
    if path and Path(path).exists() and Path(path).stat().st_size:
        existing = kind_of(load(path), path)
        if existing != kind:
            raise ResultsError(f"{path} holds {existing} rows; refusing to write {kind} rows into it")


def to_frame(rows: list, device: str) -> pd.DataFrame:
    """Rows (dataclasses or dicts) with the provenance columns of `device` appended."""
    records = [dataclasses.asdict(row) if dataclasses.is_dataclass(row) else dict(row) for row in rows]
    frame = pd.DataFrame.from_records(records)
    for column, value in provenance(device).items():
        frame[column] = value
    return frame


def write_atomically(frame: pd.DataFrame, path: Path) -> None:
    """Write to a temporary file beside path, then rename over it: a kill at any moment leaves the old
    file or the new one, never half of one."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as stream:
            frame.to_csv(stream, index=False)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class WriteError(RuntimeError):
    """Rows could not be written where asked (a full disk, a vanished folder); the message names the
    path, the error and where the rows went instead."""


def rescue(frame: pd.DataFrame, path: Path) -> str:
    """Put rows that `path` could not take in $TMPDIR, else on stderr; says where they went."""
    try:
        handle, fallback = tempfile.mkstemp(prefix=f"opbench-{path.stem}-", suffix=path.suffix)
        with os.fdopen(handle, "w") as stream:
            frame.to_csv(stream, index=False)
        return f"the rows are in {fallback}"
    except OSError:
        sys.stderr.write(frame.to_csv(index=False))
        return "the rows are on stderr above"


def save(frame: pd.DataFrame, path: str | Path, kind: str, key: list[str]) -> pd.DataFrame:
    """Write frame's rows of `kind` to path, keeping rows of an existing file whose key the new rows do
    not have; a file of another kind is refused. Where path cannot be written, WriteError, after the
    rows (old and new) are put somewhere else (rescue); the old file stays as it was."""
    path = Path(path)
    frame = frame.assign(kind=kind, schema=SCHEMA)
    if path.exists() and path.stat().st_size > 0:
        check_target(path, kind)
        old = load(path).assign(kind=kind, schema=SCHEMA)
        if set(key) <= set(old.columns):
            new_keys = pd.MultiIndex.from_frame(frame[key].astype(str))
            old_keys = pd.MultiIndex.from_frame(old[key].astype(str))
            frame = pd.concat([old[~old_keys.isin(new_keys)], frame], ignore_index=True)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(frame, path)
    except OSError as error:
        raise WriteError(f"{path}: {error.strerror or error}; {rescue(frame, path)}") from None
    return frame
