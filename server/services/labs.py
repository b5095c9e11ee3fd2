"""Lab results: batches from site staff or a lab system's CSV export, all-or-nothing by default,
idempotent on (subject, analyte, specimen, collection time). Platelet counts go to the same table
the response engine reads, so there is one source of truth. Graded results may propose lab-sourced
adverse events (pending review), one per continuing episode."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..db import repositories as repo
from ..db.audit import field_changes
from ..db.models import LabResult, PlateletCount, Site, Subject
from ..domain import validation as v
from ..domain.adverse_events import AdverseEventSource
from ..domain.auth import Actor
from ..domain.enums import AuditAction, Role
from ..domain.labs import SPECS, Analyte, Specimen, Unit, UnitError, ctcae_lab_grade, proposes_lab_event, to_canonical
from .access import writable_subject
from .adverse_events import audit_new_event, new_provisional_event, raise_provisional_grade
from .errors import InvalidInput, NotFound, PermissionDenied
from .unit_of_work import UnitOfWork

MAX_BATCH = 5000
LAB_WRITERS = frozenset({Role.COORDINATOR, Role.ADMIN})


def require_lab_writer(actor: Actor) -> None:
    """Lab data is entered by coordinators (and admins for imports); others read it."""
    if actor.role not in LAB_WRITERS:
        raise PermissionDenied(f"the {actor.role.value} role cannot record lab results")


@dataclass(frozen=True)
class LabRow:
    subject_code: str
    analyte: Analyte
    unit: Unit
    collected_at: datetime
    value: float | None = None  # None when below the limit of quantification
    specimen: Specimen | None = None  # default: the analyte's usual specimen
    lln: float | None = None  # in the reported unit
    uln: float | None = None
    lloq: float | None = None
    below_limit: bool = False
    lab_name: str | None = None
    assay: str | None = None

    def key(self) -> str:
        specimen = (self.specimen or SPECS[self.analyte].specimen).value
        raw = f"{self.subject_code}|{self.analyte.value}|{specimen}|{self.collected_at.isoformat()}"
        return hashlib.sha256(raw.encode()).hexdigest()


@dataclass
class LabBatchOutcome:
    created: list[int] = field(default_factory=list)  # row indexes written
    already_present: list[int] = field(default_factory=list)  # row indexes skipped (same key)
    rejected: dict[int, list[v.Problem]] = field(default_factory=dict)  # row index -> problems
    lab_results: list[LabResult] = field(default_factory=list)
    platelet_counts: list[PlateletCount] = field(default_factory=list)
    proposed_event_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class _Checked:
    index: int
    row: LabRow
    subject: Subject
    site: Site
    value: float | None
    lln: float | None
    uln: float | None
    lloq: float | None


def _convert(
    row: LabRow, prefix: tuple[str, ...], amount: float | None, name: str
) -> tuple[float | None, list[v.Problem]]:
    if amount is None:
        return None, []
    try:
        return to_canonical(row.analyte, amount, row.unit), []
    except UnitError as error:
        return None, [v.Problem((*prefix, "unit"), v.ProblemCode.NOT_ALLOWED, str(error))]


def _check_row(
    uow: UnitOfWork, index: int, row: LabRow
) -> tuple[list[v.Problem], float | None, float | None, float | None, float | None]:
    prefix = ("results", str(index))
    problems = v.check_not_future(row.collected_at, uow.now, (*prefix, "collectedAt"))
    problems += v.check_text(row.lab_name, (*prefix, "labName")) + v.check_text(row.assay, (*prefix, "assay"))
    spec = SPECS[row.analyte]
    if row.specimen is not None and row.specimen is not spec.specimen:
        problems.append(
            v.Problem(
                (*prefix, "specimen"),
                v.ProblemCode.NOT_ALLOWED,
                f"{row.analyte.value} is measured in {spec.specimen.value}",
            )
        )
    if row.value is None and not row.below_limit:
        problems.append(v.Problem((*prefix, "value"), v.ProblemCode.REQUIRED, "a value, or belowLimit"))
    elif row.value is None and row.analyte is Analyte.PLATELETS:
        # checked here, not at insert time, so a partial import still writes the other rows
        problems.append(v.Problem((*prefix, "value"), v.ProblemCode.REQUIRED, "a platelet count needs a value"))
    # The unit is checked even without a value: a below-limit row in a wrong unit is refused too.
    _, unit_problems = _convert(row, prefix, 1.0, "unit")
    problems += unit_problems
    if unit_problems:
        return problems, None, None, None, None
    value, _ = _convert(row, prefix, row.value, "value")
    lln, _ = _convert(row, prefix, row.lln, "lln")
    uln, _ = _convert(row, prefix, row.uln, "uln")
    lloq, _ = _convert(row, prefix, row.lloq, "lloq")
    if value is not None:
        if row.analyte is Analyte.PLATELETS:
            problems += [v.Problem((*prefix, "value"), p.code, p.message) for p in v.check_platelet_count(value)]
        else:
            lo, hi = spec.plausible
            problems += v.check_range(
                value, lo, hi, (*prefix, "value"), f"{row.analyte.value} ({spec.canonical.value})"
            )
    if lln is not None and uln is not None and lln > uln:
        problems.append(
            v.Problem((*prefix, "lln"), v.ProblemCode.INVALID_ORDER, "the lower limit of normal is above the upper")
        )
    return problems, value, lln, uln, lloq


async def record_lab_results(uow: UnitOfWork, rows: list[LabRow], *, partial: bool = False) -> LabBatchOutcome:
    """All rows or none (a bad row names its index and field); with partial=True the good rows
    are written and the bad ones reported. Rows already recorded are skipped, never duplicated."""
    require_lab_writer(uow.actor)
    if not rows:
        raise InvalidInput([v.Problem(("results",), v.ProblemCode.REQUIRED, "at least one result")])
    if len(rows) > MAX_BATCH:
        raise InvalidInput(
            [v.Problem(("results",), v.ProblemCode.OUT_OF_RANGE, f"at most {MAX_BATCH} results per batch")]
        )
    outcome = LabBatchOutcome()
    checked: list[_Checked] = []
    subjects: dict[str, tuple[Subject, Site]] = {}
    # Every subject of the batch locked up front, in id order (the rows may name them in any order).
    writable_sites = None if uow.actor.is_admin else uow.actor.site_codes
    await repo.lock_subjects_by_codes(uow.session, {row.subject_code for row in rows}, writable_sites)
    for index, row in enumerate(rows):
        problems, value, lln, uln, lloq = _check_row(uow, index, row)
        try:
            if row.subject_code not in subjects:
                subjects[row.subject_code] = await writable_subject(
                    uow.session, uow.actor, row.subject_code, field=("results", str(index), "subjectCode")
                )
        except (NotFound, PermissionDenied) as error:
            problems.append(
                v.Problem(
                    ("results", str(index), "subjectCode"),
                    v.ProblemCode.NOT_ALLOWED if isinstance(error, PermissionDenied) else v.ProblemCode.NOT_FOUND,
                    error.message,
                )
            )
        if problems:
            outcome.rejected[index] = problems
            continue
        subject, site = subjects[row.subject_code]
        checked.append(_Checked(index, row, subject, site, value, lln, uln, lloq))
    if outcome.rejected and not partial:
        raise InvalidInput([p for problems in outcome.rejected.values() for p in problems])
    for item in sorted(checked, key=lambda c: (c.row.collected_at, c.index)):
        record = await _insert(uow, item)
        if record is None:
            conflict = await _differs_from_stored(uow, item)
            if conflict is None:
                outcome.already_present.append(item.index)
                continue
            if not partial:
                raise InvalidInput([conflict])
            outcome.rejected[item.index] = [conflict]
            continue
        outcome.created.append(item.index)
        if isinstance(record, PlateletCount):
            outcome.platelet_counts.append(record)
        else:
            outcome.lab_results.append(record)
        outcome.proposed_event_ids += await _propose_event(uow, item)
    return outcome


async def _differs_from_stored(uow: UnitOfWork, item: _Checked) -> v.Problem | None:
    """A result re-sent with the same subject, analyte, specimen and time is skipped when its value
    is the stored one; a different value is a correction, which needs a reason, not a re-send."""
    model: Any = PlateletCount if item.row.analyte is Analyte.PLATELETS else LabResult
    stored = await repo.value_by_result_key(uow.session, model, item.row.key())
    same = (stored is None and item.value is None) or (
        stored is not None and item.value is not None and abs(stored - item.value) <= 1e-9 * max(1.0, abs(stored))
    )
    if same:
        return None
    return v.Problem(
        ("results", str(item.index), "value"),
        v.ProblemCode.NOT_ALLOWED,
        f"a different value ({stored}) is already recorded for this subject, analyte and time; correct it with a reason",
    )


async def _insert(uow: UnitOfWork, item: _Checked) -> LabResult | PlateletCount | None:
    row = item.row
    stamps = {"subject_id": item.subject.id, "created_at": uow.now, "updated_at": uow.now, "result_key": row.key()}
    if row.analyte is Analyte.PLATELETS:  # _check_row refused a platelet row without a value
        values: dict[str, Any] = {
            **stamps,
            "drawn_at": row.collected_at,
            "value_e9_per_l": item.value,
            "lln_e9_per_l": item.lln,
            "uln_e9_per_l": item.uln,
            "lab_name": row.lab_name,
            "assay": row.assay,
            "value_reported": row.value,
            "unit_reported": row.unit.value,
        }
        model: Any = PlateletCount
        entity = "PlateletCount"
    else:
        values = {
            **stamps,
            "analyte": row.analyte,
            "specimen": row.specimen or SPECS[row.analyte].specimen,
            "collected_at": row.collected_at,
            "value": None if row.below_limit and row.value is None else item.value,
            "value_reported": row.value,
            "unit_reported": row.unit,
            "lln": item.lln,
            "uln": item.uln,
            "lloq": item.lloq,
            "below_limit": row.below_limit,
            "lab_name": row.lab_name,
            "assay": row.assay,
        }
        model, entity = LabResult, "LabResult"
    new_id = await repo.insert_if_absent(uow.session, model, values, "result_key")
    if new_id is None:
        return None
    if model is PlateletCount:  # a Core INSERT: the unit of work's flush tracking does not see it
        uow.response_inputs_changed(item.subject.id)
    record = await repo.record_by_id(uow.session, model, new_id)
    uow.audit(
        entity=entity,
        entity_id=new_id,
        action=AuditAction.CREATE,
        changes=field_changes(
            {},
            {k: val for k, val in values.items() if k not in ("subject_id", "created_at", "updated_at", "result_key")},
        ),
        subject_id=item.subject.id,
        site_id=item.site.id,
    )
    return record


async def _propose_event(uow: UnitOfWork, item: _Checked) -> list[int]:
    """A new CTCAE grade >= the parameter, or a worsening, proposes a lab-sourced event; while an
    episode of that term is open (unresolved, not rejected) it is updated instead."""
    if item.value is None:
        return []
    grade = ctcae_lab_grade(item.row.analyte, item.value, item.lln)
    if grade is None or grade.grade == 0:
        return []
    _version, params = await repo.parameters_in_force(uow.session, item.subject.trial_id, uow.now.date())
    previous = await repo.previous_lab_value(uow.session, item.subject.id, item.row.analyte, item.row.collected_at)
    previous_grade = None
    if previous is not None:
        earlier = ctcae_lab_grade(item.row.analyte, previous[0], previous[1] if previous[1] is not None else item.lln)
        previous_grade = earlier.grade if earlier else None
    if not proposes_lab_event(
        previous_grade, grade.grade, params.lab_event_min_grade, params.lab_event_worsening_grades
    ):
        return []
    open_event = await repo.open_lab_event(uow.session, item.subject.id, grade.meddra_code)
    if open_event is not None:
        raise_provisional_grade(
            uow, open_event, grade.grade, site_id=item.site.id, reason="a later lab result is graded higher"
        )
        return [open_event.id]
    event = new_provisional_event(
        uow,
        subject_id=item.subject.id,
        meddra_code=grade.meddra_code,
        grade=grade.grade,
        onset=item.row.collected_at.date(),
        source=AdverseEventSource.LAB,
    )
    await uow.flush()
    audit_new_event(uow, event, site_id=item.site.id)
    return [event.id]
