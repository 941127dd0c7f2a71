"""What the tests share besides fixtures (those are in conftest.py): data, the app's config, stand-ins for what
cannot run here (kubectl and a cluster), and the kinds of bad input."""
