"""The service-account key a person pastes into config/service_account_key.json (gitignored, never committed)."""

from __future__ import annotations

import json
from pathlib import Path

from .schema import DataStoreError

KEY_FILE = Path("config") / "service_account_key.json"


def read_service_account_key(path: Path) -> dict:
    """The key in `path`, or a DataStoreError saying what to put there."""
    where_to_get_one = (
        "create a key for the app's service account in the Google Cloud console (IAM & Admin > Service accounts > "
        f"Keys > Add key > JSON) and paste the whole file into {path.name}"
    )
    text = path.read_text(encoding="utf-8").strip() if path.is_file() else ""
    if not text:
        raise DataStoreError(f"{path} is empty: {where_to_get_one}")
    try:
        key = json.loads(text)
    except json.JSONDecodeError as error:
        raise DataStoreError(f"{path} is not JSON ({error}): {where_to_get_one}") from error
    if not isinstance(key, dict) or key.get("type") != "service_account":
        raise DataStoreError(f'{path} is not a service-account key (no "type": "service_account"): {where_to_get_one}')
    missing = [field for field in ("client_email", "private_key", "project_id") if not key.get(field)]
    if missing:
        raise DataStoreError(f"{path} lacks {missing}, which every service-account key has: {where_to_get_one}")
    return key
