"""``python -m mistral_client``: the same as the ``mistral-client`` command."""

from mistral_client.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
