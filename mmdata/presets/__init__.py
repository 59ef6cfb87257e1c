"""Shipped presets, one folder per kind: recipes/, models/, suites/, benchmarks/ (see mmdata.config)."""
