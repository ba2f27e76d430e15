"""The ``mistral-client`` command."""
