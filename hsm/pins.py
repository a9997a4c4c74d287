"""PIN files: read only when private to their owner, written with mode 0600."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from hsm.errors import HsmLoginFailed


def read_pin_file(path: Path) -> str:
    """The PIN in `path`; refuses a file that group or others can read."""
    try:
        mode = path.stat().st_mode
    except OSError as error:
        raise HsmLoginFailed(f"cannot read the PIN file {path}: {error.strerror}") from error
    if stat.S_IMODE(mode) & 0o077:
        raise HsmLoginFailed(
            f"the PIN file {path} is readable by others (mode {stat.S_IMODE(mode):04o}); "
            "chmod 600 it"
        )
    pin = path.read_text().strip()
    if not pin:
        raise HsmLoginFailed(f"the PIN file {path} is empty")
    return pin


def write_pin_file(path: Path, pin: str) -> None:
    """Create `path` with mode 0600 holding `pin`; never overwrites."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(pin + "\n")
