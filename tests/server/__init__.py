"""The local server: its routes, knobs, limits, security, replay, schema, the official SDKs, the local model."""
