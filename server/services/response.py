"""The response engine, applied to stored records: maps rows to the domain's values and runs the
domain's rules.

The results are stored (tables transfusion_response and subject_response) and kept in step with
their inputs: every write transaction that changes a subject's transfusions, counts, body
measurements, CAR-T infusions, therapies or procedures (or creates the subject), and every protocol amendment in force
today, recomputes the affected subjects with `refresh_stored_responses` before it commits
(services.unit_of_work). So a corrected count changes the CCI, the response and the endpoint at
once (DESIGN.md rule 5) and reads need no engine run. A stored row names the parameter version
that produced it; readers evaluate live, from the inputs, any subject whose row is missing or
was produced under another version than the one in force (a version whose effective date has
since come, until `ptr-trial refresh-responses` or `ptr-trial migrate` runs). Records written
around the services (a bulk load) are not seen until a refresh."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..db import repositories as repo
from ..db import response_store as store
from ..db.models import BodyMeasurement, PlateletCount, PlateletTransfusion, StoredTransfusionResponse
from ..domain.bsa import Measurement
from ..domain.enums import CarTProduct
from ..domain.protocol import ProtocolParameters
from ..domain.response import (
    AttributedCount,
    Count,
    RefractoryExclusion,
    SubjectResponse,
    Transfusion,
    TransfusionFlags,
    TransfusionResponse,
    assess_subject,
    evaluate_transfusions,
    joined_reasons,
    refractory_exclusion,
    transfusion_flags,
)
from ..domain.statistics import Proportion, clopper_pearson
from ..domain.therapies import ProcedureEvent, TherapyCourse, follow_up_end


def transfusion_dose_e11(row: PlateletTransfusion) -> float | None:
    """Total platelet content in x10^11; unknown when any unit's content is unknown."""
    contents: list[float | None] = [unit.get("content_e11") for unit in row.units]
    known = [float(c) for c in contents if c is not None]
    if not contents or len(known) < len(contents):
        return None
    return sum(known)


def _transfusion(row: PlateletTransfusion) -> Transfusion:
    return Transfusion(
        transfusion_id=row.id,
        started_at=row.started_at,
        ended_at=row.ended_at,
        dose_e11=transfusion_dose_e11(row),
        abo_compatible=row.abo_compatibility.compatible_if_known,
    )


@dataclass(frozen=True)
class SubjectEvaluation:
    parameter_version: int
    by_transfusion: dict[int, TransfusionResponse]
    subject: SubjectResponse
    # per transfusion: why it does not count towards baseline refractoriness (None: it counts)
    refractory_exclusions: dict[int, RefractoryExclusion | None]
    # per transfusion: the therapy confounding it, why it is not counted for the endpoint
    flags: dict[int, TransfusionFlags]


def evaluate_subject(
    transfusions: Sequence[PlateletTransfusion],
    counts: Sequence[PlateletCount],
    measurements: Sequence[BodyMeasurement],
    first_infusion_at: datetime | None,
    parameters: ProtocolParameters,
    parameter_version: int,
    therapies: Sequence[Any] = (),
    procedures: Sequence[Any] = (),
) -> SubjectEvaluation:
    """The engine over one subject's live records (rows with the models' attribute names):
    therapies (Therapy rows) confound transfusions, procedures (Procedure rows) may end follow-up."""
    results = evaluate_transfusions(
        [_transfusion(t) for t in transfusions],
        [Count(c.id, c.drawn_at, c.value_e9_per_l) for c in counts],
        [Measurement(m.measured_at, m.height_cm, m.weight_kg) for m in measurements],
        parameters,
    )
    follow_up_ends_on = follow_up_end(
        [ProcedureEvent(p.procedure_type, p.hsct_type, p.performed_on) for p in procedures],
        parameters.hsct_ends_follow_up,
    )
    courses = [TherapyCourse(t.id, t.therapy_class, t.start_date, t.end_date) for t in therapies]
    flags = transfusion_flags(results, first_infusion_at, parameters, courses, follow_up_ends_on)
    return SubjectEvaluation(
        parameter_version=parameter_version,
        by_transfusion={r.transfusion.transfusion_id: r for r in results},
        subject=assess_subject(results, first_infusion_at, parameters, flags, follow_up_ends_on),
        refractory_exclusions={
            r.transfusion.transfusion_id: refractory_exclusion(r, first_infusion_at) for r in results
        },
        flags=flags,
    )


@dataclass(frozen=True)
class EndpointSubject:
    infused: bool  # received at least one CAR-T infusion
    per_protocol: bool  # received both CD19 and BCMA
    sustained: bool


def primary_endpoint(subjects: Sequence[EndpointSubject], per_protocol: bool) -> Proportion:
    """Responders (sustained responsiveness) among infused or per-protocol subjects, with the
    exact Clopper-Pearson 95% interval."""
    population = [s for s in subjects if (s.per_protocol if per_protocol else s.infused)]
    return clopper_pearson(sum(1 for s in population if s.sustained), len(population))


def endpoint_sustained(response: Any, sensitivity: bool) -> bool:
    """The responder status the endpoint counts: the main analysis, or the sensitivity analysis
    without the transfusions confounded by therapy (a stored row or a SubjectResponse)."""
    return bool(response.sensitivity_sustained if sensitivity else response.sustained)


# --- stored results: kept in step inside each write transaction ------------------------------------

REFRESH_CHUNK = 500  # subjects per round of statements (bounded memory and IN lists on a full refresh)
PER_PROTOCOL_PRODUCTS = frozenset({CarTProduct.CD19, CarTProduct.BCMA})


def _count_columns(prefix: str, attributed: AttributedCount | None) -> dict[str, Any]:
    if attributed is None:
        return {
            f"{prefix}_count_id": None,
            f"{prefix}_drawn_at": None,
            f"{prefix}_value_e9_per_l": None,
            f"{prefix}_after_end_s": None,
        }
    count = attributed.count
    return {
        f"{prefix}_count_id": count.count_id,
        f"{prefix}_drawn_at": count.drawn_at,
        f"{prefix}_value_e9_per_l": count.value_e9_per_l,
        f"{prefix}_after_end_s": attributed.after_end.total_seconds(),
    }


def transfusion_response_row(
    subject_id: int,
    result: TransfusionResponse,
    parameter_version: int,
    exclusion: RefractoryExclusion | None,
    flags: TransfusionFlags,
) -> dict[str, Any]:
    """The transfusion_response row holding one result of the engine (and why the transfusion does
    not count towards baseline refractoriness, None when it counts; the therapy confounding it;
    why it is not counted for the endpoint)."""
    transfusion, bsa, attribution = result.transfusion, result.bsa, result.attribution
    confounding = flags.confounding
    return {
        "transfusion_id": transfusion.transfusion_id,
        "subject_id": subject_id,
        "parameter_version": parameter_version,
        "started_at": transfusion.started_at,
        "ended_at": transfusion.ended_at,
        "abo_compatible": transfusion.abo_compatible,
        "dose_e11": transfusion.dose_e11,
        "bsa_m2": bsa.value_m2 if bsa else None,
        "bsa_formula": bsa.formula if bsa else None,
        "bsa_height_cm": bsa.height_cm if bsa else None,
        "bsa_weight_kg": bsa.weight_kg if bsa else None,
        "bsa_height_measured_at": bsa.height_measured_at if bsa else None,
        "bsa_weight_measured_at": bsa.weight_measured_at if bsa else None,
        **_count_columns("pre", attribution.pre),
        **_count_columns("early", attribution.early),
        **_count_columns("late", attribution.late),
        "early_confounded": attribution.early_confounded,
        "late_confounded": attribution.late_confounded,
        "cci_early": result.cci_early,
        "cci_late": result.cci_late,
        "ppr_early": result.ppr_early,
        "category": result.category,
        "reasons": joined_reasons(result.reasons),
        "refractory_exclusion": exclusion,
        "confounding_therapy_id": confounding.therapy_id if confounding else None,
        "confounding_class": confounding.therapy_class if confounding else None,
        "endpoint_exclusion": flags.endpoint_exclusion,
    }


def subject_response_row(
    subject_id: int, response: SubjectResponse, parameter_version: int, products: Iterable[CarTProduct]
) -> dict[str, Any]:
    """The subject_response row: the engine's per-subject result and the endpoint populations."""
    given = set(products)
    return {
        "subject_id": subject_id,
        "parameter_version": parameter_version,
        "first_infusion_at": response.first_infusion_at,
        "baseline_refractory": response.baseline_refractory,
        "sustained": response.sustained,
        "first_response_at": response.first_response_at,
        "days_to_response": response.days_to_response,
        "longest_responsive_run": response.longest_responsive_run,
        "lost_response": response.lost_response,
        "lost_response_at": response.lost_response_at,
        "evaluable_transfusions": response.evaluable_transfusions,
        "responsive_transfusions": response.responsive_transfusions,
        "infused": bool(given),
        "per_protocol": given >= PER_PROTOCOL_PRODUCTS,
        "follow_up_ends_on": response.follow_up_ends_on,
        "confounded_transfusions": response.confounded_transfusions,
        "sensitivity_sustained": response.sensitivity_sustained,
        "sensitivity_first_response_at": response.sensitivity_first_response_at,
        "sensitivity_days_to_response": response.sensitivity_days_to_response,
        "sensitivity_longest_responsive_run": response.sensitivity_longest_responsive_run,
        "sensitivity_lost_response": response.sensitivity_lost_response,
        "sensitivity_lost_response_at": response.sensitivity_lost_response_at,
        "sensitivity_evaluable_transfusions": response.sensitivity_evaluable_transfusions,
        "sensitivity_responsive_transfusions": response.sensitivity_responsive_transfusions,
    }


async def refresh_stale_responses(session: AsyncSession, today: date) -> int:
    """Recomputes only the subjects without a stored result under the version in force on `today`
    (after an upgrade to migration 0004, a bulk load, or a future-dated version taking effect);
    nothing when every subject is current. Returns the number of subjects refreshed."""
    trial = await repo.the_trial(session)
    version, _ = await repo.parameters_in_force(session, trial.id, today)
    stale = await store.subjects_without_current_responses(session, version)
    return await refresh_stored_responses(session, stale, today) if stale else 0


async def fill_stale_responses(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    """After migrating (ptr-trial migrate, or the embedded database at start-up): the subjects
    whose stored responses a migration removed or never had (0004, a rule change such as 0008)
    get them back at once, so reads and exports see current figures. One transaction."""
    async with sessionmaker() as session, session.begin():
        return await refresh_stale_responses(session, datetime.now(timezone.utc).date())


async def refresh_stored_responses(session: AsyncSession, subject_ids: Collection[int] | None, today: date) -> int:
    """Recomputes the stored responses of these subjects (None: every subject) with the protocol
    version in force on `today`, inside the caller's transaction: locks the subjects, reads their
    live inputs, runs the same engine as a live read (`evaluate_subject`), replaces their rows.
    Three statements, then ten per REFRESH_CHUNK subjects. Returns the number of subjects refreshed."""
    trial = await repo.the_trial(session)
    version, parameters = await repo.parameters_in_force(session, trial.id, today)
    ids = await store.lock_subjects(session, None if subject_ids is None else sorted(set(subject_ids)))
    for start in range(0, len(ids), REFRESH_CHUNK):
        chunk = ids[start : start + REFRESH_CHUNK]
        inputs = await store.response_inputs(session, chunk)
        transfusion_rows: list[dict[str, Any]] = []
        subject_rows: list[dict[str, Any]] = []
        for subject_id in chunk:
            infusions = inputs.infusions.get(subject_id, [])
            evaluation = evaluate_subject(
                inputs.transfusions.get(subject_id, []),
                inputs.counts.get(subject_id, []),
                inputs.measurements.get(subject_id, []),
                min((i.infused_at for i in infusions), default=None),
                parameters,
                version,
                inputs.therapies.get(subject_id, []),
                inputs.procedures.get(subject_id, []),
            )
            transfusion_rows += [
                transfusion_response_row(
                    subject_id,
                    result,
                    version,
                    evaluation.refractory_exclusions[transfusion_id],
                    evaluation.flags[transfusion_id],
                )
                for transfusion_id, result in evaluation.by_transfusion.items()
            ]
            subject_rows.append(
                subject_response_row(subject_id, evaluation.subject, version, (i.product for i in infusions))
            )
        await store.replace_stored_responses(session, chunk, transfusion_rows, subject_rows)
    return len(ids)


# A transfusion_response row as a tuple, columns in table order: what a live evaluation is turned
# into so that reads handle stored and live results alike, and by position (a site view unpacks
# 2,000 of them; positions are several times faster than names).
TRANSFUSION_RESPONSE_COLUMNS = tuple(c.name for c in StoredTransfusionResponse.__table__.columns)
TransfusionResponseRecord = namedtuple("TransfusionResponseRecord", TRANSFUSION_RESPONSE_COLUMNS)  # type: ignore[misc]


@dataclass(frozen=True)
class ResponseReading:
    """What the API reads: per transfusion, its flat derived record (a stored transfusion_response
    row, or a TransfusionResponseRecord of the same values computed live: both are tuples in
    TRANSFUSION_RESPONSE_COLUMNS order with those attribute names);
    per subject, the SubjectResponse values (a stored subject_response row has the same names).
    Flat records, not domain objects: a site view reads thousands per request, and rebuilding the
    domain objects cost as much as the rest of the view."""

    parameter_version: int
    by_transfusion: dict[int, Any]
    subject: Any


def live_reading(subject_id: int, evaluation: SubjectEvaluation) -> ResponseReading:
    """A live evaluation in the form the stored rows are read in."""
    version = evaluation.parameter_version
    return ResponseReading(
        parameter_version=version,
        by_transfusion={
            transfusion_id: TransfusionResponseRecord(
                **transfusion_response_row(
                    subject_id,
                    result,
                    version,
                    evaluation.refractory_exclusions[transfusion_id],
                    evaluation.flags[transfusion_id],
                )
            )
            for transfusion_id, result in evaluation.by_transfusion.items()
        },
        subject=evaluation.subject,
    )


def stored_readings(
    subject_rows: Sequence[Any], transfusion_rows: Sequence[Any], parameter_version: int
) -> dict[int, ResponseReading]:
    """Readings from stored rows (subject_response, transfusion_response), for the subjects whose
    rows were all produced under `parameter_version`; the others are left out, for the caller to
    evaluate live."""
    by_subject: dict[int, dict[int, Any]] = {}
    stale: set[int] = set()
    for row in transfusion_rows:
        if row.parameter_version != parameter_version:
            stale.add(row.subject_id)
        else:
            by_subject.setdefault(row.subject_id, {})[row.transfusion_id] = row
    return {
        row.subject_id: ResponseReading(
            parameter_version=row.parameter_version, by_transfusion=by_subject.get(row.subject_id, {}), subject=row
        )
        for row in subject_rows
        if row.parameter_version == parameter_version and row.subject_id not in stale
    }
