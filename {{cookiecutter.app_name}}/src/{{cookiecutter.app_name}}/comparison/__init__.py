"""What a challenger's model would change against the champion it would replace, on rows neither trained on."""

from .markdown import COMMENT_LIMIT, MARKER, cut, markdown
from .report import ComparisonError, ComparisonReport, compare

__all__ = ["COMMENT_LIMIT", "MARKER", "ComparisonError", "ComparisonReport", "compare", "cut", "markdown"]
