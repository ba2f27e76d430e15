"""One module per endpoint family, each a small class on ``AsyncResource`` (``_base.py``)."""
