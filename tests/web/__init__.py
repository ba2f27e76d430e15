"""The web layer: the relay (mistral_client.web), the chat page in a browser, the FastAPI example."""
