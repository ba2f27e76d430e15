"""The sync and async clients against real servers: streaming, errors, faults, retries, deadlines, secrets."""
