"""uWSGI's entry point (`module = {{ cookiecutter.app_name }}.web.wsgi:app` in uwsgi.ini)."""

from ..config import load_settings
from . import create_app
from .probes import start_probe_server

settings = load_settings()
# Each process (lazy-apps: after the fork) loads the model before it takes a request.
app = create_app(settings, load_model_now=True)
if settings.variables.probe_port:
    start_probe_server(app, settings, settings.variables.probe_port)
