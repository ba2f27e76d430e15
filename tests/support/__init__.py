"""Helpers the tests share: real servers (raw socket, ``serve`` process, uvicorn), the sync/async runner,
leak checks, and what some tests need from ../shared (the official spec, the recorded answers)."""
