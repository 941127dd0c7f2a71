"""What runs only on a laptop or in tests: the embedded Redis, the BigQuery emulator, the whole stack on one
machine, and a client for the app's API. Nothing deployed imports it."""
