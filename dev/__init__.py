"""Tools for working on the template itself: demo data, the demo, app venvs, formatting, benchmarks."""
