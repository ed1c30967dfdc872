"""A run's metrics log, ``metrics.jsonl``: one JSON record a line, each with its ``"step"``.

The trainer appends a record at each logged step and evaluation (:func:`append_record`); on
``--resume`` it reads the log back (:func:`read_log`) and rewrites it without the records
after the checkpoint, which are redone (:func:`write_log`). Every file is opened without
following a symbolic link (:func:`cubit_lite.run_folder.open_no_follow`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .run_folder import open_no_follow, write_atomically

__all__ = ["append_record", "read_log", "write_log"]


def read_log(path: Path) -> list[dict]:
    """The records of a run's ``metrics.jsonl`` (opened without following a link).

    A malformed *last* line is what a crash or a full disk leaves (``{"step": 58``): it is
    dropped, with a one-line note. Any other line that is not a JSON object with an
    integer ``"step"`` is an error naming the file and the line.
    """
    with os.fdopen(open_no_follow(path, os.O_RDONLY), encoding="utf-8", errors="replace") as file:
        lines = [(number, line) for number, line in enumerate(file.read().splitlines(), 1) if line.strip()]
    records = []
    for position, (number, line) in enumerate(lines):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            if position == len(lines) - 1:
                print(f"note: dropped the last line of {path}, cut off by an interrupted write: {line[:60]!r}",
                      flush=True)
                break
            raise ValueError(f"{path}, line {number}: not a JSON record ({err.msg}, column {err.colno}); only the "
                             "last line may be cut off by a crash: fix or delete that line, or start again with "
                             "--overwrite") from None
        step = record.get("step") if isinstance(record, dict) else None
        if not isinstance(step, int) or isinstance(step, bool):
            raise ValueError(f"{path}, line {number}: a metrics record must be a JSON object with an integer "
                             f"\"step\"; got {line[:80]}")
        records.append(record)
    return records


def write_log(path: Path, records: list[dict]) -> None:
    """Replace the log at ``path`` by ``records``, atomically: a crash leaves the old log or the new one."""
    text = "".join(json.dumps(record) + "\n" for record in records)
    write_atomically(path, lambda file: file.write(text.encode("utf-8")))


def append_record(path: Path, entry: dict) -> None:
    """Add ``entry`` as the last line of the log at ``path``, which is created if it does not exist."""
    with os.fdopen(open_no_follow(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT), "a", encoding="utf-8") as log:
        log.write(json.dumps(entry) + "\n")
