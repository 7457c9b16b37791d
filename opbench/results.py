"""Result rows as long-format CSV: each row stamped with its provenance; re-runs replace rows with the same key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from opbench.provenance import provenance


def to_frame(rows: list, device: str) -> pd.DataFrame:
    """Rows (dataclasses or dicts) with the provenance columns of `device` appended."""
    records = [dataclasses.asdict(row) if dataclasses.is_dataclass(row) else dict(row) for row in rows]
    frame = pd.DataFrame.from_records(records)
    for column, value in provenance(device).items():
        frame[column] = value
    return frame


def save(frame: pd.DataFrame, path: str | Path, key: list[str]) -> pd.DataFrame:
    """Write frame to path, keeping rows of an existing file whose key the new rows do not have."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.stat().st_size > 0:
        old = pd.read_csv(path)
        if set(key) <= set(old.columns):
            new_keys = pd.MultiIndex.from_frame(frame[key].astype(str))
            old_keys = pd.MultiIndex.from_frame(old[key].astype(str))
            frame = pd.concat([old[~old_keys.isin(new_keys)], frame], ignore_index=True)
    frame.to_csv(path, index=False)
    return frame
