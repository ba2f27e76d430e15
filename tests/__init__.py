"""The test suite, grouped by layer; shared helpers live in ``tests.support`` (see tests/conftest.py for fixtures)."""
