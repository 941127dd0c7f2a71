"""One hash per row, from the row's values written out as text: the same row gets the same hash whatever the
backend's column types or the version of pandas or NumPy.

It decides which rows are held out (holdout.py), the order rows are trained in, the key that keeps an upload from
being added twice, and the data hash a version records. Changing how a row is written out changes all of these, so
ROW_HASH_SCHEME names the way: holdout rules and stored keys say which scheme made them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

ROW_HASH_SCHEME = 1
MISSING_TEXT = "\x00"  # a missing value, unlike any text
SEPARATOR = "\x1f"  # between the values of a row


def row_hashes(frame: pd.DataFrame, columns: Sequence[str] | None = None) -> np.ndarray:
    """Each row's 64-bit hash of its values in `columns` (all, in the frame's order, by default)."""
    texts = [value_texts(frame[column]) for column in (frame.columns if columns is None else columns)]
    if not texts:
        return np.zeros(len(frame), dtype=np.uint64)
    rows = texts[0].str.cat(texts[1:], sep=SEPARATOR) if len(texts) > 1 else texts[0]
    hashes = (hashlib.blake2b(row.encode(), digest_size=8).digest() for row in rows.tolist())
    return np.fromiter((int.from_bytes(value) for value in hashes), dtype=np.uint64, count=len(rows))


def digest(hashes: np.ndarray) -> str:
    """One short hash of rows, from their row hashes in order."""
    return hashlib.sha256(np.asarray(hashes, dtype="<u8").tobytes()).hexdigest()[:16]


def rows_key(frame: pd.DataFrame) -> str:
    """One short hash of typed rows in order: the same rows give the same key however their file wrote them."""
    return digest(row_hashes(frame))


def value_texts(column: pd.Series) -> pd.Series:
    """Each value as text: numbers in full, times in ISO form (UTC), booleans as true/false, missing as one mark."""
    if pd.api.types.is_bool_dtype(column):
        text = column.map({True: "true", False: "false"})
    elif pd.api.types.is_integer_dtype(column):
        text = column.astype("Int64").astype("string")
    elif pd.api.types.is_float_dtype(column):
        text = pd.Series(column.to_numpy(dtype="float64", na_value=np.nan), index=column.index).map(repr)
        text = text.where(column.notna())
    elif pd.api.types.is_datetime64_any_dtype(column):
        moments = column.dt.tz_convert("UTC").dt.tz_localize(None) if column.dt.tz is not None else column
        text = moments.dt.strftime("%Y-%m-%dT%H:%M:%S.%f")
    else:
        text = column.astype("string")
    return text.astype("string").fillna(MISSING_TEXT).reset_index(drop=True)
