"""The page: upload a CSV to predict, upload corrected rows to train, watch the retrain, see the versions."""

from __future__ import annotations

from flask import Blueprint, make_response, redirect, render_template, request, url_for

from ..api.auth import COOKIE, QUERY, key_is_valid, presented_key
from ..services import services

ui = Blueprint("ui", __name__, template_folder="templates", static_folder="static", static_url_path="/static")


@ui.get("/")
def index():
    if not key_is_valid(presented_key()):
        return render_template("unauthorised.html"), 401
    settings = services().settings
    page = render_template(
        "index.html",
        title=settings.app.app_title + settings.environment_config.app_title_extension,
        logo=settings.app.logo_image_url,
        colour1=settings.environment_config.colour1,
        colour2=settings.environment_config.colour2,
        environment=settings.environment,
        target=settings.app.target,
    )
    if request.args.get(QUERY):
        # Remember the key for this browser, and take it out of the address, which history and logs keep.
        response = redirect(url_for("ui.index"), 303)
        response.set_cookie(COOKIE, request.args[QUERY], httponly=True, samesite="Strict", secure=request.is_secure)
        return response
    return make_response(page)
