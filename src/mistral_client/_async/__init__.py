"""The async client, hand-written: the source ``scripts/unasync.py`` generates ``_sync/`` from."""
