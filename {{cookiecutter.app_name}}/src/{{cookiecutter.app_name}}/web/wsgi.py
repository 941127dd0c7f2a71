"""uWSGI's entry point (`module = {{ cookiecutter.app_name }}.web.wsgi:app` in uwsgi.ini)."""

from . import create_app

app = create_app()
