"""uWSGI's entry point (`module = {{ cookiecutter.app_name }}.web.wsgi:app` in uwsgi.ini)."""

from . import create_app

# Each process (lazy-apps: after the fork) loads the model before it takes a request.
app = create_app(load_model_now=True)
