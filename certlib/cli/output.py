"""Printing for people (aligned tables) and for scripts (`--json`)."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from certlib.errors import InputError
from hsm import KeyRef


def key_row(ref: KeyRef) -> dict[str, Any]:
    """A key version as plain data."""
    return {
        "name": ref.name,
        "version": ref.version,
        "algorithm": ref.algorithm,
        "state": ref.state.value,
        "protection": ref.protection.value,
        "created": ref.created.isoformat(),
        "fingerprint": "sha256:" + hashlib.sha256(ref.public_key).hexdigest(),
    }


def print_json(value: Any) -> None:
    """Write `value` as indented JSON on stdout."""
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False, sort_keys=True)
    sys.stdout.write("\n")


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    """Write rows as a left-aligned table with a header line."""
    if not rows:
        print("(none)")
        return
    cells = [[str(row.get(column, "")) for column in columns] for row in rows]
    widths = [
        max(len(column), *(_width(line[i]) for line in cells)) for i, column in enumerate(columns)
    ]
    header = zip(columns, widths, strict=True)
    print("  ".join(_pad(column.upper(), width) for column, width in header).rstrip())
    for line in cells:
        padded = zip(line, widths, strict=True)
        print("  ".join(_pad(cell, width) for cell, width in padded).rstrip())


def _width(text: str) -> int:
    """Columns a terminal uses for `text`: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


KEY_COLUMNS = ("name", "version", "algorithm", "state", "protection", "created", "fingerprint")


def print_keys(refs: Sequence[KeyRef], as_json: bool) -> None:
    """Show key versions as a table or as JSON."""
    rows = [key_row(ref) for ref in refs]
    if as_json:
        print_json(rows)
    else:
        short = [{**row, "fingerprint": row["fingerprint"][:23]} for row in rows]
        print_table(short, KEY_COLUMNS)


def read_file(path: Path) -> bytes:
    """The bytes of an input file; InputError naming the file if it cannot be read."""
    try:
        return path.read_bytes()
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror}") from None


def write_file(path: Path, content: bytes) -> None:
    """Write an output file; InputError naming the file if it cannot be written."""
    try:
        path.write_bytes(content)
    except OSError as error:
        raise InputError(f"cannot write {path}: {error.strerror}") from None


def report(args: argparse.Namespace, row: dict[str, object], line: str) -> None:
    """Print `row` as JSON under --json, else the human `line`."""
    if args.json:
        print_json(row)
    else:
        print(line)
