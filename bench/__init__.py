"""The benchmark suite: mistral-client against the official SDKs and plain httpx2 (``python -m bench``)."""
