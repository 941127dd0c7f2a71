"""The HTTP API: its endpoints, the API-key check and upload parsing."""
