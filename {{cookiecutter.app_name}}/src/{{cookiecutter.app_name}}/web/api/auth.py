"""API-key protection: header X-API-Key, query ?api_key=, or the cookie the page sets on a keyed visit."""

from __future__ import annotations

import hmac
from functools import wraps

from flask import current_app, jsonify, request

HEADER, QUERY, COOKIE = "X-API-Key", "api_key", "api_key"


def presented_key() -> str:
    return request.headers.get(HEADER) or request.args.get(QUERY) or request.cookies.get(COOKIE) or ""


def key_is_valid(presented: str) -> bool:
    expected = current_app.config["API_KEY"]
    # Constant time: how long a comparison takes must not tell how much of a guess was right.
    return hmac.compare_digest(presented.encode(), expected.encode())


def require_api_key(view):
    @wraps(view)
    def guarded(*args, **kwargs):
        if not key_is_valid(presented_key()):
            message = f"a valid API key is needed: send header {HEADER} or add ?{QUERY}=... to the URL"
            return jsonify(error=message), 401
        return view(*args, **kwargs)

    return guarded
