"""`ptr-trial import-labs FILE.csv`: a lab system's CSV export through the same service as the
recordLabResults mutation. Nothing is written if any row is bad, unless partial=True; running the
same file twice writes nothing new.

Columns (header row required; extra columns are ignored):
  subject_code, analyte, value, unit, collected_at (ISO 8601 with offset),
  optional: specimen, lln, uln, lloq, below_limit (true/false), lab, assay
Values of analyte, unit and specimen are the lower-case names of the API's enums
(e.g. platelets, e9_per_l; igg, g_per_l)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime

from ..domain import validation as v
from ..domain.labs import Analyte, Specimen, Unit
from .errors import InvalidInput
from .labs import LabBatchOutcome, LabRow, record_lab_results
from .unit_of_work import UnitOfWork

REQUIRED_COLUMNS = ("subject_code", "analyte", "value", "unit", "collected_at")
TRUE = {"true", "yes", "1", "y"}


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    already_present: int = 0
    problems: list[str] = field(default_factory=list)  # "line 7, value: ..." for people
    written: bool = False

    def __str__(self) -> str:
        head = (
            f"import-labs: {self.rows} rows; {self.created} created, {self.already_present} already present"
            if self.written
            else f"import-labs: {self.rows} rows; nothing written"
        )
        return "\n".join([head, *(f"  {p}" for p in self.problems)])


def _number(text: str | None) -> float | None:
    text = (text or "").strip()
    return float(text) if text else None


def parse_rows(text: str) -> tuple[list[tuple[int, LabRow]], dict[int, list[str]]]:
    """(line number, row) for parsable lines, and per-line problems for the others."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        return [], {1: [f"header lacks the columns {', '.join(missing)}"]}
    parsed: list[tuple[int, LabRow]] = []
    problems: dict[int, list[str]] = {}
    for line, record in enumerate(reader, start=2):
        try:
            collected = datetime.fromisoformat(record["collected_at"].strip())
            if collected.tzinfo is None:
                raise ValueError("collected_at needs a UTC offset, e.g. 2026-03-01T08:00:00+00:00")
            row = LabRow(
                subject_code=record["subject_code"].strip(),
                analyte=Analyte(record["analyte"].strip().lower()),
                unit=Unit(record["unit"].strip().lower()),
                collected_at=collected,
                value=_number(record.get("value")),
                specimen=Specimen(record["specimen"].strip().lower())
                if (record.get("specimen") or "").strip()
                else None,
                lln=_number(record.get("lln")),
                uln=_number(record.get("uln")),
                lloq=_number(record.get("lloq")),
                below_limit=(record.get("below_limit") or "").strip().lower() in TRUE,
                lab_name=(record.get("lab") or "").strip() or None,
                assay=(record.get("assay") or "").strip() or None,
            )
        except (ValueError, KeyError, AttributeError) as error:
            problems[line] = [str(error)]
            continue
        parsed.append((line, row))
    return parsed, problems


def _describe(problem: v.Problem, lines: list[int]) -> tuple[int, str]:
    index = int(problem.field[1]) if len(problem.field) > 1 and problem.field[0] == "results" else 0
    where = ".".join(problem.field[2:]) or "row"
    return lines[index], f"{where}: {problem.message}"


async def import_lab_csv(uow: UnitOfWork, text: str, *, partial: bool = False) -> ImportReport:
    """Runs the rows through record_lab_results in `uow`; report.written says whether the caller
    should commit (never when a row is bad, unless partial)."""
    parsed, problems = parse_rows(text)
    lines = [line for line, _ in parsed]
    report = ImportReport(rows=len(parsed) + len(problems))
    outcome: LabBatchOutcome | None = None
    if parsed:
        try:
            outcome = await record_lab_results(uow, [row for _, row in parsed], partial=partial)
        except InvalidInput as error:
            for problem in error.problems:
                line, message = _describe(problem, lines)
                problems.setdefault(line, []).append(message)
        else:
            for rejected in outcome.rejected.values():
                for problem in rejected:
                    line, message = _describe(problem, lines)
                    problems.setdefault(line, []).append(message)
    report.problems = [f"line {line}: {m}" for line in sorted(problems) for m in problems[line]]
    if outcome is not None and (partial or not problems):
        report.created = len(outcome.created)
        report.already_present = len(outcome.already_present)
        report.written = True
    return report
