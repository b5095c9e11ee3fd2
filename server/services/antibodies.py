"""HLA and HPA antibody tests (Luminex single-antigen beads with an MFI per specificity, or
positive/negative assays such as MAIPA)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..db.audit import field_changes
from ..db.models import AntibodyTest
from ..domain import validation as v
from ..domain.enums import AuditAction
from ..domain.outcomes import AntibodyClass, AntibodyMethod, CutoffOperator, is_positive
from .access import writable_subject
from .errors import raise_if
from .labs import require_lab_writer
from .unit_of_work import UnitOfWork


@dataclass(frozen=True)
class AntibodyResultRow:
    specificity: str  # e.g. "A*02:01", "DRB1*15:01", "HPA-1a"
    mfi: float | None = None
    positive: bool | None = None  # required for assays without an MFI


@dataclass(frozen=True)
class NewAntibodyTest:
    subject_code: str
    collected_at: datetime
    antibody_class: AntibodyClass
    method: AntibodyMethod
    results: tuple[AntibodyResultRow, ...]
    kit: str | None = None
    lot: str | None = None
    cutoff_mfi: float | None = None  # the lab's cut-off; default: the protocol parameter
    cutoff_operator: CutoffOperator = CutoffOperator.GE
    cpra_percent: float | None = None
    lab_name: str | None = None


async def record_antibody_test(uow: UnitOfWork, test: NewAntibodyTest, default_cutoff: float) -> AntibodyTest:
    require_lab_writer(uow.actor)
    subject, site = await writable_subject(uow.session, uow.actor, test.subject_code)
    problems = v.check_not_future(test.collected_at, uow.now, ("collectedAt",))
    problems += (
        v.check_text(test.kit, ("kit",)) + v.check_text(test.lot, ("lot",)) + v.check_text(test.lab_name, ("labName",))
    )
    problems += v.check_range(test.cpra_percent, 0, 100, ("cpraPercent",), "cPRA (%)")
    problems += v.check_range(test.cutoff_mfi, 0, 100_000, ("cutoffMfi",), "MFI cut-off")
    if not test.results:
        problems.append(v.Problem(("results",), v.ProblemCode.REQUIRED, "at least one specificity"))
    bead_assay = test.method is AntibodyMethod.SINGLE_ANTIGEN_BEADS
    cutoff = test.cutoff_mfi if test.cutoff_mfi is not None else default_cutoff
    stored = []
    seen: set[str] = set()
    for i, r in enumerate(test.results):
        path = ("results", str(i))
        specificity = r.specificity.strip()
        if not specificity or len(specificity) > 32:
            problems.append(
                v.Problem(
                    (*path, "specificity"), v.ProblemCode.INVALID_FORMAT, "a specificity such as A*02:01 or HPA-1a"
                )
            )
        if specificity in seen:
            problems.append(v.Problem((*path, "specificity"), v.ProblemCode.NOT_ALLOWED, "listed twice"))
        seen.add(specificity)
        problems += v.check_range(r.mfi, 0, 100_000, (*path, "mfi"), "MFI")
        if bead_assay and r.mfi is None:
            problems.append(v.Problem((*path, "mfi"), v.ProblemCode.REQUIRED, "single-antigen beads report an MFI"))
        if not bead_assay and r.positive is None:
            problems.append(v.Problem((*path, "positive"), v.ProblemCode.REQUIRED, "positive or negative"))
        positive = is_positive(r.mfi, cutoff, test.cutoff_operator) if bead_assay and r.mfi is not None else r.positive
        stored.append({"specificity": specificity, "mfi": r.mfi, "positive": positive})
    raise_if(problems)
    row = AntibodyTest(
        subject_id=subject.id,
        collected_at=test.collected_at,
        antibody_class=test.antibody_class,
        method=test.method,
        kit=test.kit,
        lot=test.lot,
        cutoff_mfi=cutoff if bead_assay else None,
        cutoff_operator=test.cutoff_operator,
        cpra_percent=test.cpra_percent,
        lab_name=test.lab_name,
        results=stored,
        created_at=uow.now,
        updated_at=uow.now,
    )
    uow.session.add(row)
    await uow.flush()
    uow.audit(
        entity="AntibodyTest",
        entity_id=row.id,
        action=AuditAction.CREATE,
        changes=field_changes(
            {},
            {
                "collected_at": row.collected_at,
                "antibody_class": row.antibody_class,
                "method": row.method,
                "kit": row.kit,
                "lot": row.lot,
                "cutoff_mfi": row.cutoff_mfi,
                "results": stored,
            },
        ),
        subject_id=subject.id,
        site_id=site.id,
    )
    return row
