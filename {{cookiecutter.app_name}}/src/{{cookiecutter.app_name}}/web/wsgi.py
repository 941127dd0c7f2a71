"""uWSGI's entry point (`module = {{ cookiecutter.app_name }}.main:app` in uwsgi.ini)."""

from .api import create_app

app = create_app()
