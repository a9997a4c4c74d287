"""`python -m certlib.cli` runs certctl."""

from certlib.cli import entry_point

entry_point()
