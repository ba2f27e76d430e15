"""The stream pipeline: bytes -> events -> chunks -> result, its views, partial JSON and structured output."""
