"""Keys of appended rows as earlier releases stored them: a digest of pandas' own row hash, which a pandas release
may change. Kept only to carry those keys over to the stable one (ml/row_hash.py), so that a file loaded before an
upgrade is still refused when it is uploaded again after it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pandas as pd

from ..ml.row_hash import rows_key


def pandas_rows_key(rows: pd.DataFrame) -> str:
    """The key earlier releases stored for these typed rows."""
    return hashlib.sha256(pd.util.hash_pandas_object(rows, index=False).to_numpy().tobytes()).hexdigest()[:16]


def carried_over(table: pd.DataFrame, appends: Sequence[tuple[str, int]]) -> dict[str, str]:
    """The stable key of each earlier append, by its old key, for those whose rows are found where they were stored.

    `table` holds the typed rows in the order they were stored, `appends` each append's old key and row count, oldest
    first. Rows are only ever added at the end (a copied table's own rows come first), so the newest append is the last
    rows, the one before it the rows before those, and so on; an append is carried over only when its rows give its
    old key again, and the walk stops at the first that does not.
    """
    found, end = {}, len(table)
    for old_key, count in reversed(appends):
        rows = table.iloc[end - count : end].reset_index(drop=True)
        if count > end or pandas_rows_key(rows) != old_key:
            break
        found[old_key], end = rows_key(rows), end - count
    return found
