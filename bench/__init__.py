"""Benchmarks: `python -m bench.NAME`; each ends with `ratio NAME: X.XX` lines."""
