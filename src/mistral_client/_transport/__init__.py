"""The HTTP transport, at the bottom: it imports nothing from the rest of the package."""
