"""The challenger report as Markdown: for a terminal, a job's summary, and (without example rows) a pull request."""

from __future__ import annotations

from tabulate import tabulate

from ..config import APP_NAME
from .report import CLOSE_SHARE, ComparisonReport

MARKER = f"<!-- {APP_NAME} challenger report -->"  # finds the pull request's comment again, to edit it
COMMENT_LIMIT = 65_536  # the most characters GitHub keeps in a comment
TABLE_ROWS = 50  # each table's first rows; the JSON report holds them all


def markdown(report: ComparisonReport, public: bool = False, limit: int | None = None) -> str:
    """The report; `public` leaves out the example rows (data a public comment must not show), `limit` cuts it."""
    challenger = report.challenger
    verdict = "would promote" if report.gate_passes else "would not promote"
    lines = [
        MARKER,
        f"### Challenger report: {report.environment} against the champion of {report.compared_with}",
        "",
        f"**The gate {verdict} v{challenger.version}**: {report.gate_reason}",
        "",
        models_table(report),
    ]
    if report.rows:
        lines += ["", compared_rows(report)]
    lines += breakdown(report) + disagreements(report) + mistakes(report) + training_drift(report)
    if report.examples and not public:
        columns = list(report.examples[0])
        lines += section("Rows they disagree on", columns, [[row[c] for c in columns] for row in report.examples], 0)
    lines += ["", *(f"- {note}" for note in report.notes)] if report.notes else []
    text = "\n".join(lines) + "\n"
    return cut(text, limit) if limit else text


def compared_rows(report: ComparisonReport) -> str:
    said = f"Both scored on the same {report.rows:,} held-out rows, {report.compared_on} (hash `{report.rows_hash}`)."
    if report.champion is None:
        return said
    return f"{said} They disagree on **{report.disagreements:,}** of them ({report.disagreements / report.rows:.1%})."


def breakdown(report: ComparisonReport) -> list[str]:
    kind = "class" if report.problem_type == "classification" else "range of the target"
    rows = [
        [row["group"], row["rows"], number(row["champion"]), number(row["challenger"]), signed(row["difference"])]
        for row in report.breakdown
    ]
    headers = [kind, "rows", "champion", "challenger", "difference"]
    return section(f"{report.breakdown_score} of each {kind}", headers, rows) if rows else []


def disagreements(report: ComparisonReport) -> list[str]:
    pairs = report.disagreement_pairs
    if not pairs:
        return []
    if report.problem_type == "classification":
        headers = ["champion says", "challenger says", "rows", "champion right", "challenger right"]
        keys = ["champion", "challenger", "rows", "champion_right", "challenger_right"]
        return section("Where they disagree", headers, [[pair[k] for k in keys] for pair in pairs], labels=2)
    title = f"Where they disagree (predictions further apart than {CLOSE_SHARE:g} of the target's standard deviation)"
    headers = ["range of the target", "rows", "champion closer", "challenger closer"]
    keys = ["range", "rows", "champion_closer", "challenger_closer"]
    return section(title, headers, [[pair[k] for k in keys] for pair in pairs])


def mistakes(report: ComparisonReport) -> list[str]:
    rows = [
        [change["truth"], change["predicted"], change["champion"], change["challenger"], f"{change['change']:+d}"]
        for change in report.confusion_changes
    ]
    headers = ["true class", "predicted", "champion", "challenger", "change"]
    return section("Mistakes that changed (a class predicted as another)", headers, rows, labels=2) if rows else []


def training_drift(report: ComparisonReport) -> list[str]:
    if not report.drift:
        return []
    drifted = sum(column["drifted"] for column in report.drift)
    reference, current = report.drift_rows
    title = (
        f"Drift of the challenger's training rows against the champion's: {drifted} of {len(report.drift)} columns "
        f"drifted ({reference:,} rows of {report.compared_with}, {current:,} of {report.environment})"
    )
    rows = [
        [c["column"], c["test"], number(c["statistic"]), c["threshold"], "yes" if c["drifted"] else "no"]
        for c in report.drift
    ]
    return section(title, ["column", "test", "statistic", "threshold", "drifted"], rows, labels=2)


def models_table(report: ComparisonReport) -> str:
    challenger, champion = report.challenger, report.champion

    def values(pick, digits: int) -> list[str]:
        mine, theirs = pick(challenger), pick(champion) if champion else None
        change = None if mine is None or theirs is None else mine - theirs
        return [shown(theirs, digits), shown(mine, digits), shown(change, digits, "+") if change is not None else ""]

    rows = [
        [report.score_type, *values(lambda side: side.score, 4)],
        ["ms per 1,000 rows, one thread", *values(lambda side: side.predict_ms_per_1000_rows, 1)],
        ["trees", *values(lambda side: side.trees, 0)],
        ["training rows", *values(lambda side: side.training_rows, 0)],
    ]
    who = f"champion v{champion.version} ({champion.environment})" if champion else "champion (none)"
    headers = ["", who, f"challenger v{challenger.version} ({challenger.environment})", "difference"]
    return table(headers, rows, labels=1)


def section(title: str, headers: list[str], rows: list[list], labels: int = 1) -> list[str]:
    """A heading and a table of the first TABLE_ROWS rows, saying how many more the JSON report holds."""
    more = [f"... and {len(rows) - TABLE_ROWS:,} more in the JSON report (`--format json`)"] * (len(rows) > TABLE_ROWS)
    return ["", f"#### {title}", "", table(headers, rows[:TABLE_ROWS], labels), *more]


def table(headers: list[str], rows: list[list], labels: int) -> str:
    """A Markdown table: its first `labels` columns aligned left, the numbers after them right."""
    align = ["left"] * labels + ["right"] * (len(headers) - labels) if labels else None
    cells = [[cell(value) for value in row] for row in rows]
    return tabulate(cells, [cell(h) for h in headers], tablefmt="github", disable_numparse=True, colalign=align)


def cell(value) -> str:
    """A value as a table cell: no line break or column separator of its own."""
    return " ".join(str(value).split()).replace("|", "\\|")


def shown(value: float | None, digits: int, sign: str = "") -> str:
    return "-" if value is None else f"{value:{sign},.{digits}f}"


def number(value: float | None) -> str:
    return shown(value, 4)


def signed(value: float | None) -> str:
    return shown(value, 4, "+")


def cut(text: str, limit: int = COMMENT_LIMIT) -> str:
    """`text` if it fits in `limit` characters; else its first whole lines and a note that says it was cut."""
    if len(text) <= limit:
        return text
    note = (
        f"\n\n**Cut here**: the whole report has {len(text):,} characters, more than a comment holds ({limit:,}); "
        "it is in the run's artifact `challenger-report`.\n"
    )
    kept = text[: limit - len(note)]
    return kept[: kept.rfind("\n") if "\n" in kept else len(kept)] + note
