"""The asyncio HTTP/1.1 transport and its chunked-body decoder, the bottom layer."""
