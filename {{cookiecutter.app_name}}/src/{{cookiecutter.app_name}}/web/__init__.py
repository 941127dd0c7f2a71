"""The web app: the HTTP API and the page, served by uWSGI (see wsgi.py, server.py and uwsgi.ini)."""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from ..config import ConfigError, Settings, bound_registry_waits, load_settings
from ..registry import open_registry
from .api.endpoints import api
from .champion import Champion
from .metrics import instrument
from .services import QueueUnavailable, Services
from .ui import ui

PLACEHOLDER_KEY = "changeme"
MIN_DEPLOYED_KEY_LENGTH = 16


def refuse_a_weak_key(settings: Settings) -> None:
    key = settings.api_key
    if not key:
        raise ConfigError("api_key is empty, which would let every request in: set API_KEY, or api_key in app config")
    if not settings.variables.deployed:
        return
    if key == PLACEHOLDER_KEY:
        raise ConfigError("api_key is still 'changeme': set API_KEY (a Kubernetes Secret) before deploying")
    if len(key) < MIN_DEPLOYED_KEY_LENGTH:
        raise ConfigError(
            f"API_KEY has {len(key)} characters; a deployed app needs at least {MIN_DEPLOYED_KEY_LENGTH}. Make one "
            "with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )


def create_app(settings: Settings | None = None, load_model_now: bool = False) -> Flask:
    """The web app. `load_model_now` loads the champion before returning (as each uWSGI process does before its first
    request); otherwise the first request that needs it does."""
    settings = settings or load_settings()
    refuse_a_weak_key(settings)
    bound_registry_waits()
    environment_level = settings.environment_config.log_level
    logging.basicConfig(level=settings.app.log_level if environment_level is None else environment_level)

    app = Flask(__name__, static_folder=None)  # the page's blueprint serves /static
    app.config.update(API_KEY=settings.api_key, MAX_CONTENT_LENGTH=int(settings.app.max_upload_mb * 1024 * 1024))
    registry = open_registry(settings)
    champion = Champion(registry, settings.environment, settings.app.model_refresh_seconds)
    if load_model_now:
        champion.current()
    app.extensions[Services.__name__] = Services(settings, registry, champion)
    app.register_blueprint(api)
    app.register_blueprint(ui)
    instrument(app)

    @app.errorhandler(QueueUnavailable)
    def queue_unavailable(problem: QueueUnavailable):
        return jsonify(error=f"retraining is unavailable: {problem}"), 503

    @app.errorhandler(HTTPException)
    def http_error(problem: HTTPException):
        messages = {413: f"the upload is larger than max_upload_mb ({settings.app.max_upload_mb:g} MB)"}
        return jsonify(error=messages.get(problem.code, problem.description)), problem.code

    return app
