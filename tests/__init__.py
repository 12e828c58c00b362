"""The test suite: run with `make test` (or pytest from the repository root)."""
