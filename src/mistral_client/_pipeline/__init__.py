"""The stream pipeline, I/O-free: bytes -> server-sent events -> typed chunks -> the result."""
