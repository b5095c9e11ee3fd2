"""Standard data exports: the trial as CDISC SDTM datasets (SDTMIG 3.4 names) in CDISC
Dataset-JSON v1.1 or CSV, plus a define-like metadata file (DOMAIN.md, "Standard data exports").

Who: analysts (every site, no free text), monitors (their sites) and admins; anyone else is
refused with a typed error. What: exactly the records the caller can read through the API (the
reads in db.export_queries use the GraphQL reads' scoping and redaction), voided records left out.

Memory: subjects are read in keyset pages of PAGE_SIZE and each page's records with one statement
per source, so memory depends on the page, not on the trial. Output is produced as chunks of
bytes, written to a file by the CLI or streamed by the HTTP endpoint.

Dataset-JSON's `records` comes before `rows`, in the attribute order the specification
recommends for streaming readers. It is counted exactly by a first pass over the same rows in
the same read transaction (one snapshot: PostgreSQL REPEATABLE READ, a SQLite read transaction),
then the second pass writes them: twice the reading, but constant memory and a header a reader
can trust before the rows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from importlib import metadata
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from ..db import export_queries as q
from ..domain import sdtm
from ..domain.auth import Actor
from ..domain.labs import SPECS, Analyte, ctcae_lab_grade
from ..domain.outcomes import CutoffOperator, is_positive
from ..domain.sdtm_datasets import CODELISTS, DATASET_JSON_VERSION, DATASETS, SDTMIG_VERSION, Dataset
from ..domain.therapies import (
    HsctType,
    ProcedureType,
    TherapyClass,
    TherapyDoseUnit,
    TherapyTiming,
    therapy_timing,
)
from .errors import NotFound, PermissionDenied
from .terms import trial_terms


def _package_version() -> str:
    try:
        return metadata.version("ptr-trial-api")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "0.0.0"


PAGE_SIZE = 100  # subjects per page
CHUNK_BYTES = 64 * 1024
SOURCE_SYSTEM = {"name": "PTR Trial API", "version": _package_version()}
ORIGINATOR = "PTR Trial API"
FORMATS = {"dataset-json": "json", "csv": "csv"}
PLANNED_ARM = ("CD19BCMA", "CD19 CAR-T THEN BCMA CAR-T")
ACTUAL_ARMS = {
    frozenset({"cd19", "bcma"}): PLANNED_ARM,
    frozenset({"cd19"}): ("CD19", "CD19 CAR-T ONLY"),
    frozenset({"bcma"}): ("BCMA", "BCMA CAR-T ONLY"),
}
PC_ANALYTES = tuple(sdtm.PC_TESTS)
LB_ANALYTES = tuple(a for a in sdtm.LAB_TESTS if a != Analyte.PLATELETS.value)  # platelets: platelet_count


class ExportRefused(PermissionDenied):
    pass


class UnknownDataset(NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"dataset {name!r}", ("domain",))
        self.message = f"no dataset {name!r}: one of {', '.join(DATASETS)}"


def require_exporter(actor: Actor) -> None:
    if not sdtm.may_export(actor.role):
        allowed = ", ".join(sorted(r.value for r in sdtm.EXPORTER_ROLES))
        raise ExportRefused(f"the {actor.role.value} role cannot export the trial (exports are for {allowed})")


def dataset(name: str) -> Dataset:
    found = DATASETS.get(name.upper())
    if found is None:
        raise UnknownDataset(name)
    return found


def file_name(name: str, fmt: str) -> str:
    return f"{name.lower()}.{FORMATS[fmt]}"


# --- context and pages ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportContext:
    actor: Actor
    study_id: str
    created_at: datetime
    db_modified_at: datetime | None

    @property
    def metadata_version_oid(self) -> str:
        return f"MDV.{self.study_id}.SDTMIG.{SDTMIG_VERSION}"


async def export_context(session: AsyncSession, actor: Actor, now: datetime | None = None) -> ExportContext:
    require_exporter(actor)
    created = (now or datetime.now(timezone.utc)).replace(microsecond=0)
    modified = await q.db_last_modified(session)
    if modified is not None and modified > created:  # the spec: on or before the file's creation
        modified = created
    return ExportContext(actor, await q.study_id(session), created, modified)


@dataclass(frozen=True)
class SubjectRef:
    id: int
    usubjid: str
    row: Any

    @property
    def reference(self) -> datetime | None:
        return self.row.first_infusion_at  # type: ignore[no-any-return]


Rows = list[dict[str, Any]]
Builder = Callable[[AsyncSession, ExportContext, Sequence[SubjectRef]], Awaitable[Rows]]


async def _pages(session: AsyncSession, ctx: ExportContext, size: int) -> AsyncIterator[list[SubjectRef]]:
    after = 0
    while True:
        rows = await q.subject_page(session, ctx.actor, after_id=after, limit=size)
        if not rows:
            return
        yield [SubjectRef(r.id, sdtm.usubjid(ctx.study_id, r.site_code, r.code), r) for r in rows]
        if len(rows) < size:
            return
        after = rows[-1].id


async def dataset_rows(
    session: AsyncSession, ctx: ExportContext, name: str, *, page_size: int = PAGE_SIZE
) -> AsyncIterator[dict[str, Any]]:
    """The dataset's records in order (subject, then time), each with its --SEQ."""
    spec = dataset(name)
    build = BUILDERS[spec.name]
    async for page in _pages(session, ctx, page_size):
        for row in await build(session, ctx, page):
            yield row


def _by_subject(rows: Sequence[Any]) -> dict[int, list[Any]]:
    grouped: dict[int, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row.subject_id, []).append(row)
    return grouped


def _numbered(domain: str, subject: SubjectRef, records: list[dict[str, Any]], ctx: ExportContext) -> Rows:
    """Adds the identifiers and --SEQ (1, 2, ... per subject in the records' order)."""
    for seq, record in enumerate(records, start=1):
        record.update({"STUDYID": ctx.study_id, "DOMAIN": domain, "USUBJID": subject.usubjid, f"{domain}SEQ": seq})
    return records


def _day(moment: datetime | date | None, subject: SubjectRef) -> int | None:
    return sdtm.sdtm_study_day(moment, subject.reference)


def _yn(flag: bool | None) -> str | None:
    return None if flag is None else ("Y" if flag else "N")


def _value(enum_or_text: Any) -> Any:
    return getattr(enum_or_text, "value", enum_or_text)


# --- DM ------------------------------------------------------------------------------------------


async def _dm(session: AsyncSession, ctx: ExportContext, page: Sequence[SubjectRef]) -> Rows:
    products: dict[int, set[str]] = {}
    for infusion in await q.infusions(session, ctx.actor, [s.id for s in page]):
        products.setdefault(infusion.subject_id, set()).add(_value(infusion.product))
    rows: Rows = []
    for s in page:
        r = s.row
        status = _value(r.status)
        received = frozenset(products.get(s.id, set()))
        assigned = status not in ("screening", "screen_failed")
        armcd, arm = PLANNED_ARM if assigned else (None, None)
        actarmcd, actarm = ACTUAL_ARMS.get(received, (None, None))
        arm_null_reason = None
        if not assigned:
            arm_null_reason = "SCREEN FAILURE" if status == "screen_failed" else "NOT ASSIGNED"
        elif actarm is None:
            arm_null_reason = "ASSIGNED, NOT TREATED"
        first_exposure: str | None = sdtm.iso_datetime(s.reference)
        ld: date | None = r.first_lymphodepletion_on
        if ld is not None and (s.reference is None or ld <= s.reference.astimezone(timezone.utc).date()):
            first_exposure = sdtm.iso_date(ld)
        record = {
            "SUBJID": r.code,
            "RFSTDTC": sdtm.iso_datetime(s.reference),
            "RFXSTDTC": first_exposure,
            "RFICDTC": sdtm.iso_date(r.consent_date),
            "SITEID": r.site_code,
            "BRTHDTC": str(r.year_of_birth),
            "AGE": r.age_at_consent,
            "AGEU": "YEARS",
            "SEX": sdtm.SEX[_value(r.sex)],
            "ARMCD": armcd,
            "ARM": arm,
            "ACTARMCD": actarmcd,
            "ACTARM": actarm,
            "ARMNRS": arm_null_reason,
        }
        record.update({"STUDYID": ctx.study_id, "DOMAIN": "DM", "USUBJID": s.usubjid})
        rows.append(record)
    return rows


# --- EX ------------------------------------------------------------------------------------------


def _agent_records(course: Any, subject: SubjectRef) -> Rows:
    records: Rows = []
    for agent in course.agents:
        name = agent.get("other_name") if agent.get("agent") == "other" else agent.get("agent")
        days = int(agent.get("days") or 1)
        end = min(course.end_date, course.start_date + timedelta(days=max(days, 1) - 1))
        records.append(
            {
                "EXTRT": str(name or "other").upper(),
                "EXCAT": "LYMPHODEPLETION",
                "EXDOSE": agent.get("dose_per_day"),
                "EXDOSU": sdtm.DOSE_UNIT.get(str(agent.get("dose_unit")), agent.get("dose_unit")),
                "EXDOSFRQ": "QD",
                "EXLOT": None,
                "EXSTDTC": sdtm.iso_date(course.start_date),
                "EXENDTC": sdtm.iso_date(end),
                "EXSTDY": _day(course.start_date, subject),
                "EXENDY": _day(end, subject),
            }
        )
    return records


def _infusion_record(infusion: Any, subject: SubjectRef) -> dict[str, Any]:
    return {
        "EXTRT": sdtm.CAR_T_TREATMENT[_value(infusion.product)],
        "EXCAT": "CAR-T",
        "EXDOSE": infusion.car_positive_cells_per_kg,
        "EXDOSU": "CAR+ cells/kg" if infusion.car_positive_cells_per_kg is not None else None,
        "EXDOSFRQ": "ONCE",
        "EXLOT": infusion.lot_number,
        "EXSTDTC": sdtm.iso_datetime(infusion.infused_at),
        "EXENDTC": sdtm.iso_datetime(infusion.infused_at),
        "EXSTDY": _day(infusion.infused_at, subject),
        "EXENDY": _day(infusion.infused_at, subject),
    }


async def _ex(session: AsyncSession, ctx: ExportContext, page: Sequence[SubjectRef]) -> Rows:
    ids = [s.id for s in page]
    infusions = _by_subject(await q.infusions(session, ctx.actor, ids))
    courses = _by_subject(await q.lymphodepletions(session, ctx.actor, ids))
    rows: Rows = []
    for s in page:
        records = [r for c in courses.get(s.id, []) for r in _agent_records(c, s)]
        records += [_infusion_record(i, s) for i in infusions.get(s.id, [])]
        records.sort(key=lambda r: r["EXSTDTC"] or "")  # ISO 8601 text sorts in time order
        rows += _numbered("EX", s, records, ctx)
    return rows


# --- AE and SUPPAE -------------------------------------------------------------------------------


def _ae_record(event: Any, subject: SubjectRef) -> dict[str, Any]:
    term = trial_terms().get(event.meddra_code)
    criteria = set(event.serious_criteria or [])
    record = {
        "AESPID": f"AE{event.id}",
        # Analysts get no verbatim text: AETERM (required) then repeats the CTCAE term.
        "AETERM": event.verbatim or event.term,
        "AELLT": event.term,
        "AELLTCD": event.meddra_code,
        "AEDECOD": event.term,
        "AEPTCD": None,  # CTCAE v5.0 gives the LLT code; the PT code is not stored
        "AEBODSYS": term.soc if term else None,
        "AESER": _yn(event.serious),
        "AEACNOTH": sdtm.OTHER_ACTION.get(_value(event.action_taken)) if event.action_taken else None,
        "AEOUT": sdtm.OUTCOME.get(_value(event.outcome)) if event.outcome else None,
        "AETOXGR": str(event.grade),
        "AESTDTC": sdtm.iso_date(event.onset_date),
        "AEENDTC": sdtm.iso_date(event.resolution_date),
        "AESTDY": _day(event.onset_date, subject),
        "AEENDY": _day(event.resolution_date, subject),
    }
    for criterion, flag in sdtm.SERIOUS_FLAGS.items():
        record[flag] = ("Y" if criterion in criteria else "N") if event.serious else None
    return record


async def _ae_pairs(
    session: AsyncSession, ctx: ExportContext, page: Sequence[SubjectRef]
) -> list[tuple[Any, dict[str, Any]]]:
    events = _by_subject(await q.adverse_events(session, ctx.actor, [s.id for s in page]))
    pairs: list[tuple[Any, dict[str, Any]]] = []
    for s in page:
        mine = events.get(s.id, [])
        records = _numbered("AE", s, [_ae_record(e, s) for e in mine], ctx)
        pairs += list(zip(mine, records, strict=True))
    return pairs


async def _ae(session: AsyncSession, ctx: ExportContext, page: Sequence[SubjectRef]) -> Rows:
    return [record for _, record in await _ae_pairs(session, ctx, page)]


# QNAM has at most 8 characters: the CD19 attribution is AERELC19 ("AERELCD19" would be 9).
SUPPAE_ATTRIBUTIONS = (
    ("attribution_cd19", "AERELC19", "Relationship to CD19 CAR-T"),
    ("attribution_bcma", "AERELBCM", "Relationship to BCMA CAR-T"),
    ("attribution_lymphodepletion", "AERELLD", "Relationship to Lymphodepletion"),
    ("attribution_platelet_transfusion", "AERELPLT", "Relationship to Platelet Transfusion"),
)


async def _suppae(session: AsyncSession, ctx: ExportContext, page: Sequence[SubjectRef]) -> Rows:
    rows: Rows = []
    for event, record in await _ae_pairs(session, ctx, page):
        qualifiers: list[tuple[str, str, str | None, str, str | None]] = [
            (qnam, label, sdtm.ATTRIBUTION.get(_value(getattr(event, column)) or ""), "CRF", "INVESTIGATOR")
            for column, qnam, label in SUPPAE_ATTRIBUTIONS
        ]
        qualifiers += [
            ("AEGRSCL", "Grading Scale", sdtm.GRADING_SCALE.get(_value(event.grading_scale)), "CRF", None),
            (
                "AEREVST",
                "Investigator Review Status",
                str(_value(event.status)).replace("_", " ").upper(),
                "ASSIGNED",
                None,
            ),
            ("AEEXPECT", "Expected Event", _yn(event.expected), "CRF", "INVESTIGATOR"),
        ]
        for qnam, label, value, origin, evaluator in qualifiers:
            if value is None:
                continue
            rows.append(
                {
                    "STUDYID": ctx.study_id,
                    "RDOMAIN": "AE",
                    "USUBJID": record["USUBJID"],
                    "IDVAR": "AESEQ",
                    "IDVARVAL": str(record["AESEQ"]),
                    "QNAM": qnam,
                    "QLABEL": label,
                    "QVAL": value,
                    "QORIG": origin,
                    "QEVAL": evaluator,
                }
            )
    return rows


# --- LB and PC -----------------------------------------------------------------------------------


def _unit(unit: Any) -> str | None:
    text = _value(unit)
    return sdtm.UNIT.get(text, text) if text else None


def _lab_record(r: Any, subject: SubjectRef, moment: datetime) -> dict[str, Any]:
    """A lab value: as the lab sent it (--ORRES/--ORRESU) and in the analyte's canonical unit
    (--STRESN/--STRESU, the API's unit); below the limit of quantification: "<LLOQ"."""
    analyte = _value(r.analyte)
    canonical = SPECS[Analyte(analyte)].canonical.value
    below = bool(getattr(r, "below_limit", False)) and r.value is None
    same_unit = (_value(r.unit_reported) or canonical) == canonical
    original: str | None
    if below:
        original = f"<{sdtm.number_text(r.lloq)}" if r.lloq is not None else "BLQ"
        original_unit = _unit(canonical)
    else:
        original = sdtm.number_text(r.value_reported if r.value_reported is not None else r.value)
        original_unit = _unit(r.unit_reported or canonical)
    return {
        "ORRES": original,
        "ORRESU": original_unit,
        "STRESC": original if below else sdtm.number_text(r.value),
        "STRESN": r.value,
        "STRESU": _unit(canonical),
        "LLN": r.lln,
        "ULN": r.uln,
        "SAME_UNIT": same_unit,
        "DTC": sdtm.iso_datetime(moment),
        "DY": _day(moment, subject),
    }


def _lb_record(r: Any, subject: SubjectRef) -> dict[str, Any]:
    analyte = _value(r.analyte)
    testcd, test, category = sdtm.LAB_TESTS[analyte]
    base = _lab_record(r, subject, r.collected_at)
    grade = ctcae_lab_grade(Analyte(analyte), r.value, r.lln) if r.value is not None else None
    return {
        "LBTESTCD": testcd,
        "LBTEST": test,
        "LBCAT": category,
        "LBORRES": base["ORRES"],
        "LBORRESU": base["ORRESU"],
        "LBORNRLO": sdtm.number_text(r.lln) if base["SAME_UNIT"] else None,
        "LBORNRHI": sdtm.number_text(r.uln) if base["SAME_UNIT"] else None,
        "LBSTRESC": base["STRESC"],
        "LBSTRESN": base["STRESN"],
        "LBSTRESU": base["STRESU"],
        "LBSTNRLO": r.lln,
        "LBSTNRHI": r.uln,
        "LBNRIND": sdtm.reference_range_indicator(r.value, r.lln, r.uln),
        "LBNAM": r.lab_name,
        "LBSPEC": sdtm.SPECIMEN.get(_value(r.specimen), "BLOOD"),
        "LBMETHOD": r.assay,
        "LBLLOQ": r.lloq,
        "LBTOX": grade.term if grade else None,
        "LBTOXGR": str(grade.grade) if grade else None,
        "LBDTC": base["DTC"],
        "LBDY": base["DY"],
    }


@dataclass(frozen=True)
class _PlateletAsLab:
    """A platelet_count row read like a lab_result row (canonical unit x10^9/L)."""

    row: Any

    analyte = Analyte.PLATELETS.value
    specimen = "blood"
    below_limit = False
    lloq = None

    def __getattr__(self, name: str) -> Any:
        aliases = {
            "value": "value_e9_per_l",
            "lln": "lln_e9_per_l",
            "uln": "uln_e9_per_l",
            "collected_at": "drawn_at",
        }
        return getattr(self.row, aliases.get(name, name))


async def _lb(session: AsyncSession, ctx: ExportContext, page: Sequence[SubjectRef]) -> Rows:
    ids = [s.id for s in page]
    labs = _by_subject(await q.lab_results(session, ctx.actor, ids, LB_ANALYTES))
    counts = _by_subject(await q.platelet_counts(session, ctx.actor, ids))
    rows: Rows = []
    for s in page:
        merged = [*labs.get(s.id, []), *(_PlateletAsLab(c) for c in counts.get(s.id, []))]
        merged.sort(key=lambda r: (r.collected_at, sdtm.LAB_TESTS[_value(r.analyte)][0]))
        rows += _numbered("LB", s, [_lb_record(r, s) for r in merged], ctx)
    return rows


async def _pc(session: AsyncSession, ctx: ExportContext, page: Sequence[SubjectRef]) -> Rows:
    results = _by_subject(await q.lab_results(session, ctx.actor, [s.id for s in page], PC_ANALYTES))
    rows: Rows = []
    for s in page:
        records = []
        for r in results.get(s.id, []):
            testcd, test, method = sdtm.PC_TESTS[_value(r.analyte)]
            base = _lab_record(r, s, r.collected_at)
            records.append(
                {
                    "PCTESTCD": testcd,
                    "PCTEST": test,
                    "PCORRES": base["ORRES"],
                    "PCORRESU": base["ORRESU"],
                    "PCSTRESC": "BLQ" if r.value is None else base["STRESC"],
                    "PCSTRESN": base["STRESN"],
                    "PCSTRESU": base["STRESU"],
                    "PCNAM": r.lab_name,
                    "PCSPEC": "BLOOD",
                    "PCMETHOD": method,
                    "PCLLOQ": r.lloq,
                    "PCDTC": base["DTC"],
                    "PCDY": base["DY"],
                }
            )
        rows += _numbered("PC", s, records, ctx)
    return rows


# --- IS --------------------------------------------------------------------------------------------


def _is_records(test: Any, subject: SubjectRef) -> Rows:
    klass = _value(test.antibody_class)
    method = sdtm.ANTIBODY_METHOD.get(_value(test.method), str(_value(test.method)).upper())
    method_text = "; ".join(p for p in (method, test.kit and f"KIT {test.kit}", test.lot and f"LOT {test.lot}") if p)
    common = {
        "ISCAT": sdtm.ANTIBODY_CLASS.get(klass),
        "ISNAM": test.lab_name,
        "ISSPEC": "SERUM",
        "ISMETHOD": method_text[:80],
        "ISDTC": sdtm.iso_datetime(test.collected_at),
        "ISDY": _day(test.collected_at, subject),
    }
    cutoff = test.cutoff_mfi if test.cutoff_mfi is not None else 1000.0
    operator = CutoffOperator(_value(test.cutoff_operator))
    records: Rows = []
    for result in test.results or []:
        specificity = str(result.get("specificity", ""))
        mfi = result.get("mfi")
        positive = result.get("positive")
        if positive is None and mfi is not None:
            positive = is_positive(float(mfi), cutoff, operator)
        call = None if positive is None else ("POSITIVE" if positive else "NEGATIVE")
        records.append(
            {
                "ISTESTCD": sdtm.antibody_test_code(specificity),
                "ISTEST": sdtm.antibody_test_name(klass, specificity),
                "ISORRES": sdtm.number_text(mfi) if mfi is not None else call,
                "ISORRESU": "MFI" if mfi is not None else None,
                "ISSTRESC": call,
                "ISSTRESN": mfi,
                "ISSTRESU": "MFI" if mfi is not None else None,
                **common,
            }
        )
    if test.cpra_percent is not None:
        records.append(
            {
                "ISTESTCD": "CPRA",
                "ISTEST": "Calculated Panel Reactive Antibody",
                "ISORRES": sdtm.number_text(test.cpra_percent),
                "ISORRESU": "%",
                "ISSTRESC": sdtm.number_text(test.cpra_percent),
                "ISSTRESN": test.cpra_percent,
                "ISSTRESU": "%",
                **common,
            }
        )
    return records


async def _is(session: AsyncSession, ctx: ExportContext, page: Sequence[SubjectRef]) -> Rows:
    tests = _by_subject(await q.antibody_tests(session, ctx.actor, [s.id for s in page]))
    rows: Rows = []
    for s in page:
        rows += _numbered("IS", s, [r for t in tests.get(s.id, []) for r in _is_records(t, s)], ctx)
    return rows


# --- PR and XR (platelet transfusions and their response) ---------------------------------------


def _link_id(transfusion_id: int) -> str:
    return f"PLTX{transfusion_id}"


def _dose_e11(units: Sequence[dict[str, Any]]) -> float | None:
    contents = [u.get("content_e11") for u in units or []]
    if not contents or any(c is None for c in contents):
        return None  # an unknown content makes the dose unknown (DOMAIN.md)
    return float(sum(contents))  # type: ignore[arg-type]


PROCEDURE_TERMS = {
    (ProcedureType.SPLENECTOMY, None): ("SPLENECTOMY", "SURGERY"),
    (ProcedureType.HSCT, HsctType.ALLOGENEIC): ("ALLOGENEIC STEM CELL TRANSPLANT", "TRANSPLANT"),
    (ProcedureType.HSCT, HsctType.AUTOLOGOUS): ("AUTOLOGOUS STEM CELL TRANSPLANT", "TRANSPLANT"),
}


def _procedure_record(p: Any, subject: SubjectRef) -> dict[str, Any]:
    """A splenectomy or HSCT in PR, told apart from the transfusions by PRCAT (date only)."""
    term, category = PROCEDURE_TERMS[(p.procedure_type, p.hsct_type)]
    return {
        "PRLNKID": f"PROC{p.id}",
        "PRTRT": term,
        "PRCAT": category,
        "PRDOSE": None,
        "PRDOSU": None,
        "PRSTDTC": sdtm.iso_date(p.performed_on),
        "PRENDTC": sdtm.iso_date(p.performed_on),
        "PRSTDY": _day(p.performed_on, subject),
        "PRENDY": _day(p.performed_on, subject),
    }


async def _pr(session: AsyncSession, ctx: ExportContext, page: Sequence[SubjectRef]) -> Rows:
    ids = [s.id for s in page]
    transfusions = _by_subject(await q.transfusions(session, ctx.actor, ids))
    procedures = _by_subject(await q.procedures(session, ctx.actor, ids))
    rows: Rows = []
    for s in page:
        records = [_procedure_record(p, s) for p in procedures.get(s.id, [])]
        for t in transfusions.get(s.id, []):
            dose = _dose_e11(t.units)
            records.append(
                {
                    "PRLNKID": _link_id(t.id),
                    "PRTRT": "PLATELET TRANSFUSION",
                    "PRCAT": "TRANSFUSION",
                    "PRDOSE": dose,
                    "PRDOSU": "10^11 platelets" if dose is not None else None,
                    "PRSTDTC": sdtm.iso_datetime(t.started_at),
                    "PRENDTC": sdtm.iso_datetime(t.ended_at),
                    "PRSTDY": _day(t.started_at, s),
                    "PRENDY": _day(t.ended_at, s),
                }
            )
        # In time order: an ISO date sorts before the times of its own day.
        records.sort(key=lambda r: (r["PRSTDTC"], r["PRLNKID"]))
        rows += _numbered("PR", s, records, ctx)
    return rows


# --- CM (prior and concomitant therapies) ------------------------------------------------------------

CM_UNITS = {
    TherapyDoseUnit.MG: "mg",
    TherapyDoseUnit.G: "g",
    TherapyDoseUnit.UG: "ug",
    TherapyDoseUnit.MG_PER_KG: "mg/kg",
    TherapyDoseUnit.G_PER_KG: "g/kg",
    TherapyDoseUnit.UG_PER_KG: "ug/kg",
    TherapyDoseUnit.MG_PER_M2: "mg/m2",
    TherapyDoseUnit.IU: "IU",
}


def _cm_record(t: Any, subject: SubjectRef, ctx: ExportContext) -> dict[str, Any]:
    """CMCAT is derived (prior: ended before consent); CMINDC is free text, null for analysts (the
    read selects it as NULL); an ongoing therapy is ONGOING at the export's date."""
    therapy_class = TherapyClass(t.therapy_class)
    timing = therapy_timing(t.end_date, t.ongoing, subject.row.consent_date)
    return {
        "CMSPID": f"THER{t.id}",
        "CMTRT": (t.name or therapy_class.label).upper(),
        "CMCAT": "PRIOR" if timing is TherapyTiming.PRIOR else "CONCOMITANT",
        "CMCLAS": therapy_class.label,
        "CMINDC": t.indication,
        "CMDOSE": t.dose,
        "CMDOSU": CM_UNITS[t.dose_unit] if t.dose_unit else None,
        "CMDOSFRQ": t.frequency.value.upper() if t.frequency else None,
        "CMROUTE": t.route.value.upper() if t.route else None,
        "CMSTDTC": sdtm.iso_date(t.start_date),
        "CMENDTC": sdtm.iso_date(t.end_date),
        "CMSTDY": _day(t.start_date, subject),
        "CMENDY": _day(t.end_date, subject),
        "CMENRTPT": "ONGOING" if t.ongoing else None,
        "CMENTPT": sdtm.iso_date(ctx.created_at.date()) if t.ongoing else None,
    }


async def _cm(session: AsyncSession, ctx: ExportContext, page: Sequence[SubjectRef]) -> Rows:
    therapies = _by_subject(await q.therapies(session, ctx.actor, [s.id for s in page]))
    rows: Rows = []
    for s in page:
        rows += _numbered("CM", s, [_cm_record(t, s, ctx) for t in therapies.get(s.id, [])], ctx)
    return rows


CCI_UNIT = "/uL*m2/10^11"
XR_TESTS = (
    ("CCIEARLY", "Corrected Count Increment, Early", "cci_early", "early_drawn_at", CCI_UNIT),
    ("CCILATE", "Corrected Count Increment, Late", "cci_late", "late_drawn_at", CCI_UNIT),
    ("PPREARLY", "Percent Platelet Recovery, Early", "ppr_early", "early_drawn_at", "%"),
)
RESPONSE_CODES = {"responsive": "R", "non_responsive": "N", "not_evaluable": "NE"}


def _xr_records(r: Any, subject: SubjectRef) -> Rows:
    method = f"CCI rule, protocol parameters v{r.parameter_version}"
    reasons = ", ".join(x.upper() for x in (r.reasons or "").split(",") if x) or None
    records: Rows = []
    for testcd, test, column, when, unit in XR_TESTS:
        value = getattr(r, column)
        moment = getattr(r, when) or r.ended_at
        records.append(
            {
                "XRTESTCD": testcd,
                "XRTEST": test,
                "XRLNKID": _link_id(r.transfusion_id),
                "XRORRES": sdtm.number_text(value),
                "XRORRESU": unit if value is not None else None,
                "XRSTRESC": sdtm.number_text(value),
                "XRSTRESN": value,
                "XRSTRESU": unit if value is not None else None,
                "XRSTAT": None if value is not None else "NOT DONE",
                "XRREASND": None if value is not None else reasons,
                "XRMETHOD": method,
                "XRDTC": sdtm.iso_datetime(moment),
                "XRDY": _day(moment, subject),
            }
        )
    category = RESPONSE_CODES.get(str(_value(r.category)), str(_value(r.category)).upper())
    records.append(
        {
            "XRTESTCD": "RESPCAT",
            "XRTEST": "Transfusion Response Category",
            "XRLNKID": _link_id(r.transfusion_id),
            "XRORRES": category,
            "XRORRESU": None,
            "XRSTRESC": category,
            "XRSTRESN": None,
            "XRSTRESU": None,
            "XRSTAT": None,
            "XRREASND": reasons if category == "NE" else None,
            "XRMETHOD": method,
            "XRDTC": sdtm.iso_datetime(r.ended_at),
            "XRDY": _day(r.ended_at, subject),
        }
    )
    return records


async def _xr(session: AsyncSession, ctx: ExportContext, page: Sequence[SubjectRef]) -> Rows:
    responses = _by_subject(await q.transfusion_responses(session, ctx.actor, [s.id for s in page]))
    rows: Rows = []
    for s in page:
        rows += _numbered("XR", s, [x for r in responses.get(s.id, []) for x in _xr_records(r, s)], ctx)
    return rows


# --- QS: the bleeding diary ------------------------------------------------------------------------

PRO_CTCAE_ITEMS = (
    ("nosebleedFrequency", "PCNOSFRQ", "Nosebleed Frequency"),
    ("nosebleedSeverity", "PCNOSSEV", "Nosebleed Severity"),
    ("bruising", "PCBRUISE", "Bruising"),
)


def _qs_records(report: Any, subject: SubjectRef) -> Rows:
    common = {
        "QSSPID": f"BR{report.id}",
        "QSDTC": sdtm.iso_datetime(report.noticed_at),
        "QSDY": _day(report.noticed_at, subject),
    }
    grade = report.who_grade
    records: Rows = [
        {
            "QSTESTCD": "BLDWHOGR",
            "QSTEST": "WHO Bleeding Grade, Provisional",
            "QSCAT": "BLEEDING DIARY",
            "QSORRES": None if grade is None else str(grade),
            "QSSTRESC": None if grade is None else str(grade),
            "QSSTRESN": grade,
            "QSSTAT": "NOT DONE" if grade is None else None,
            "QSREASND": "NOT GRADABLE FROM DIARY" if grade is None else None,
            "QSEVLINT": None,
            **common,
        }
    ]
    items = report.pro_ctcae or {}
    for key, testcd, test in PRO_CTCAE_ITEMS:
        value = items.get(key)
        if value is None:
            continue
        text = ("Y" if value else "N") if isinstance(value, bool) else str(value)
        records.append(
            {
                "QSTESTCD": testcd,
                "QSTEST": test,
                "QSCAT": "PRO-CTCAE",
                "QSORRES": text,
                "QSSTRESC": text,
                "QSSTRESN": None if isinstance(value, bool) else value,
                "QSSTAT": None,
                "QSREASND": None,
                "QSEVLINT": "-P7D",
                **common,
            }
        )
    return records


async def _qs(session: AsyncSession, ctx: ExportContext, page: Sequence[SubjectRef]) -> Rows:
    reports = _by_subject(await q.bleeding_reports(session, ctx.actor, [s.id for s in page]))
    rows: Rows = []
    for s in page:
        rows += _numbered("QS", s, [x for r in reports.get(s.id, []) for x in _qs_records(r, s)], ctx)
    return rows


BUILDERS: dict[str, Builder] = {
    "DM": _dm,
    "EX": _ex,
    "AE": _ae,
    "SUPPAE": _suppae,
    "LB": _lb,
    "IS": _is,
    "PC": _pc,
    "XR": _xr,
    "PR": _pr,
    "QS": _qs,
    "CM": _cm,
}


# --- writers -----------------------------------------------------------------------------------------


def _columns(spec: Dataset) -> list[dict[str, Any]]:
    columns = []
    for v in spec.variables:
        column: dict[str, Any] = {
            "itemOID": f"IT.{spec.name}.{v.name}",
            "name": v.name,
            "label": v.label,
            "dataType": v.data_type,
        }
        if v.length is not None:
            column["length"] = v.length
        if v.key is not None:
            column["keySequence"] = v.key
        columns.append(column)
    return columns


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


async def dataset_json(
    session: AsyncSession, ctx: ExportContext, name: str, *, page_size: int = PAGE_SIZE
) -> AsyncIterator[bytes]:
    """One dataset as CDISC Dataset-JSON v1.1, in chunks; attributes in the specification's order."""
    spec = dataset(name)
    records = 0
    async for _ in dataset_rows(session, ctx, spec.name, page_size=page_size):
        records += 1
    header: dict[str, Any] = {
        "datasetJSONCreationDateTime": _timestamp(ctx.created_at),
        "datasetJSONVersion": DATASET_JSON_VERSION,
        "fileOID": f"{ctx.study_id}.SDTM.{spec.name}.{ctx.created_at.strftime('%Y%m%dT%H%M%SZ')}",
    }
    if ctx.db_modified_at is not None:
        header["dbLastModifiedDateTime"] = _timestamp(ctx.db_modified_at)
    header |= {
        "originator": ORIGINATOR,
        "sourceSystem": SOURCE_SYSTEM,
        "studyOID": ctx.study_id,
        "metaDataVersionOID": ctx.metadata_version_oid,
        "metaDataRef": "define.json",
        "itemGroupOID": f"IG.{spec.name}",
        "records": records,
        "name": spec.name,
        "label": spec.label,
        "columns": _columns(spec),
    }
    buffer = bytearray(orjson.dumps(header)[:-1] + b',"rows":[')
    names = spec.names
    first = True
    async for row in dataset_rows(session, ctx, spec.name, page_size=page_size):
        if not first:
            buffer += b","
        first = False
        buffer += orjson.dumps([row.get(n) for n in names])
        if len(buffer) >= CHUNK_BYTES:
            yield bytes(buffer)
            buffer.clear()
    buffer += b"]}"
    yield bytes(buffer)


def _csv_cell(value: Any) -> Any:
    return "" if value is None else value


async def dataset_csv(
    session: AsyncSession, ctx: ExportContext, name: str, *, page_size: int = PAGE_SIZE
) -> AsyncIterator[bytes]:
    """One dataset as CSV (UTF-8, a header of variable names, empty cells for nulls)."""
    spec = dataset(name)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(spec.names)
    async for row in dataset_rows(session, ctx, spec.name, page_size=page_size):
        writer.writerow([_csv_cell(row.get(n)) for n in spec.names])
        if text.tell() >= CHUNK_BYTES:
            yield text.getvalue().encode()
            text.seek(0)
            text.truncate()
    yield text.getvalue().encode()


def dataset_chunks(
    session: AsyncSession, ctx: ExportContext, name: str, fmt: str, *, page_size: int = PAGE_SIZE
) -> AsyncIterator[bytes]:
    if fmt == "csv":
        return dataset_csv(session, ctx, name, page_size=page_size)
    return dataset_json(session, ctx, name, page_size=page_size)


def define_document(ctx: ExportContext, names: Sequence[str] | None = None) -> dict[str, Any]:
    """A define-like description of the exported datasets: variables, labels, types, lengths,
    keys, codelists, and the conventions a reader needs (study day, custom domain, redaction)."""
    chosen = [dataset(n) for n in (names or DATASETS)]
    used = sorted({v.codelist for d in chosen for v in d.variables if v.codelist})
    return {
        "fileOID": f"{ctx.study_id}.SDTM.DEFINE.{ctx.created_at.strftime('%Y%m%dT%H%M%SZ')}",
        "creationDateTime": _timestamp(ctx.created_at),
        "studyOID": ctx.study_id,
        "metaDataVersionOID": ctx.metadata_version_oid,
        "standard": {"name": "SDTMIG", "version": SDTMIG_VERSION},
        "datasetFormat": {"name": "CDISC Dataset-JSON", "version": DATASET_JSON_VERSION},
        "originator": ORIGINATOR,
        "sourceSystem": SOURCE_SYSTEM,
        "exportedFor": {"role": ctx.actor.role.value, "sites": sorted(ctx.actor.site_codes) or "all"},
        "conventions": {
            "studyDay": sdtm.SDTM_STUDY_DAY_RULE,
            "dates": "ISO 8601; date-times in UTC to the second with Z; dates without time as YYYY-MM-DD",
            "usubjid": "STUDYID-SITEID-SUBJID (pseudonymous subject codes)",
            "freeText": (
                "analysts receive no free text: AETERM repeats AEDECOD (the CTCAE term) instead of the "
                "verbatim; notes, reasons and comments are never exported"
            ),
            "voided": "voided records are not exported; adverse events rejected at review are not exported",
            "aeterm": "AELLT/AELLTCD carry the CTCAE v5.0 term and its MedDRA code; AEPTCD is not stored",
        },
        "datasets": [
            {
                "itemGroupOID": f"IG.{d.name}",
                "name": d.name,
                "label": d.label,
                "class": d.sdtm_class,
                "structure": d.structure,
                "sponsorDefined": d.sponsor_defined,
                "keys": [v.name for v in sorted((v for v in d.variables if v.key), key=lambda v: v.key or 0)],
                "file": {"dataset-json": file_name(d.name, "dataset-json"), "csv": file_name(d.name, "csv")},
                "variables": [
                    {
                        "itemOID": f"IT.{d.name}.{v.name}",
                        "name": v.name,
                        "label": v.label,
                        "dataType": v.data_type,
                        **({"length": v.length} if v.length is not None else {}),
                        **({"keySequence": v.key} if v.key is not None else {}),
                        "core": v.core,
                        "origin": v.origin,
                        **({"codelist": v.codelist} if v.codelist else {}),
                    }
                    for v in d.variables
                ],
            }
            for d in chosen
        ],
        "codelists": [
            {"oid": f"CL.{name}", "name": name, "source": CODELISTS[name][0], "terms": list(CODELISTS[name][1])}
            for name in used
            if name in CODELISTS
        ],
    }


def define_json(ctx: ExportContext, names: Sequence[str] | None = None) -> bytes:
    return orjson.dumps(define_document(ctx, names), option=orjson.OPT_INDENT_2)


def parse_domains(text: str | None) -> list[str]:
    """ "DM,AE" -> ["DM", "AE"] (validated); None or "" -> every dataset."""
    if not text:
        return list(DATASETS)
    return [dataset(name.strip()).name for name in text.split(",") if name.strip()]
