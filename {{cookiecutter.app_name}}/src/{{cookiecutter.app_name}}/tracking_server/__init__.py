"""What the MLflow tracking server runs of the app: its sign-in rule (registry_guard.py). The server's image installs
the package without the app's dependencies, so nothing here may import pandas, LightGBM or the web app."""
