"""Per-request dataloaders: each relation is fetched once per request for all the parents that
ask for it, through the visibility-filtered read queries of server.db.queries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime, timezone
from typing import Any, Protocol, TypeVar

from strawberry.dataloader import DataLoader

from ...db import devices as qd
from ...db import follow_up as qf
from ...db import queries as q
from ...db.models import (
    AdverseEvent,
    AntibodyTest,
    BleedingReport,
    BodyMeasurement,
    CarTInfusion,
    LabResult,
    LymphodepletionCourse,
    PlateletCount,
    PlateletTransfusion,
    Procedure,
    Site,
    Subject,
    SubjectStatusChange,
    Therapy,
)
from ...db.protocol_cache import ProtocolCache, TrialProtocol, read_trial_protocol
from ...domain.protocol import ProtocolParameters
from ...services.response import ResponseReading, evaluate_subject, live_reading, stored_readings

K = TypeVar("K")
R = TypeVar("R")
T = TypeVar("T")


def today_utc() -> date:
    """The day whose protocol parameters a request applies (tests move it to a future date)."""
    return datetime.now(timezone.utc).date()


def _group(rows: Sequence[R], keys: Sequence[K], key_of: Callable[[R], K]) -> list[list[R]]:
    groups: dict[K, list[R]] = defaultdict(list)
    for row in rows:
        groups[key_of(row)].append(row)
    return [groups.get(key, []) for key in keys]


def _index(rows: Sequence[R], keys: Sequence[K], key_of: Callable[[R], K]) -> list[R | None]:
    by_key = {key_of(row): row for row in rows}
    return [by_key.get(key) for key in keys]


class Reads(Protocol):
    """What the loaders need of the request's context (common/context.py): its scoped reads and the
    protocol cache. A protocol rather than the Context class, so that the context can own its
    loaders without the two modules importing each other."""

    protocol_cache: ProtocolCache

    async def read(self, query: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T: ...


class Loaders:
    def __init__(self, ctx: Reads) -> None:
        self._ctx = ctx
        self.clear()

    def clear(self) -> None:
        """Starts every loader afresh, forgetting the rows read so far (after a write, and when the
        operation ends: see Context.end). New DataLoaders rather than their clear_all(), which
        keeps each loader's last batch and with it that batch's rows."""
        self.subject = DataLoader(self._subjects)
        self.subject_by_code = DataLoader(self._subjects_by_code)
        self.site = DataLoader(self._sites)
        self.status_history = DataLoader(self._children(SubjectStatusChange, SubjectStatusChange.changed_at))
        self.measurements = DataLoader(self._children(BodyMeasurement, BodyMeasurement.measured_at))
        self.lymphodepletions = DataLoader(self._children(LymphodepletionCourse, LymphodepletionCourse.start_date))
        self.infusions = DataLoader(self._children(CarTInfusion, CarTInfusion.infused_at))
        self.transfusions = DataLoader(self._children(PlateletTransfusion, PlateletTransfusion.started_at))
        self.platelet_counts = DataLoader(self._children(PlateletCount, PlateletCount.drawn_at))
        self.therapies = DataLoader(self._children(Therapy, Therapy.start_date))
        self.procedures = DataLoader(self._children(Procedure, Procedure.performed_on))
        self.first_infusion_at = DataLoader(self._first_infusions)
        self.evaluation = DataLoader(self._evaluations)
        self.subject_response = DataLoader(self._subject_responses)
        self.bleeding_reports = DataLoader(self._children(BleedingReport, BleedingReport.id))
        self.adverse_events = DataLoader(self._children(AdverseEvent, AdverseEvent.onset_date))
        self.annotations = DataLoader(self._annotations)
        self.events_of_report = DataLoader(self._events_of_reports)
        self.review_states = DataLoader(self._review_states)
        self.reports_of_event = DataLoader(self._reports_of_events)
        self.bleeding_days = DataLoader(self._bleeding_days)
        self.lab_results = DataLoader(self._children(LabResult, LabResult.collected_at))
        self.antibody_tests = DataLoader(self._children(AntibodyTest, AntibodyTest.collected_at))
        self.devices = DataLoader(self._devices)
        self.activations = DataLoader(self._activations)
        self.last_follow_up = DataLoader(self._last_follow_ups)
        self._by_id: dict[type[Any], DataLoader[int, Any]] = {}
        self._trial_protocol: TrialProtocol | None = None
        self._protocol: tuple[int, ProtocolParameters] | None = None

    async def trial_protocol(self) -> TrialProtocol:
        """The trial and all its parameter versions: the process's copy (server.db.protocol_cache),
        or, where none is kept between requests, read once in this request's snapshot."""
        if self._trial_protocol is None:
            cache = self._ctx.protocol_cache
            if cache.across_requests:
                self._trial_protocol = await cache.get()
            else:
                self._trial_protocol = await self._ctx.read(lambda session, _actor: read_trial_protocol(session))
        return self._trial_protocol

    async def protocol(self) -> tuple[int, ProtocolParameters]:
        """(version, parameters) in force today: one date for the whole request."""
        if self._protocol is None:
            self._protocol = (await self.trial_protocol()).in_force(today_utc())
        return self._protocol

    async def _evaluations(self, subject_ids: list[int]) -> list[ResponseReading]:
        """The response engine's results, read from the stored rows that every write keeps in step
        (two statements; see services.response). A subject without a current row (none yet, or
        one produced under another parameter version than today's) is evaluated live from its
        records, as is one whose stored transfusions differ from the ones this request already
        read. Every write through the services keeps the rows current; rows written around them
        (a bulk load) are current again after `ptr-trial refresh-responses`."""
        version, parameters = await self.protocol()
        stored = stored_readings(
            await self._ctx.read(q.stored_subject_responses, subject_ids),
            await self._ctx.read(q.stored_transfusion_responses, subject_ids),
            version,
        )
        for subject_id in list(stored):
            already_read = self.transfusions.cache_map.get(subject_id)
            if already_read is None or not already_read.done() or already_read.cancelled():
                continue
            if (
                already_read.exception() is None
                and {row.id for row in already_read.result()} != stored[subject_id].by_transfusion.keys()
            ):
                del stored[subject_id]
        live = [subject_id for subject_id in subject_ids if subject_id not in stored]
        if live:
            transfusions = await self.transfusions.load_many(live)
            counts = await self.platelet_counts.load_many(live)
            measurements = await self.measurements.load_many(live)
            firsts = await self.first_infusion_at.load_many(live)
            therapies = await self.therapies.load_many(live)
            procedures = await self.procedures.load_many(live)
            for subject_id, t, c, m, f, th, p in zip(
                live, transfusions, counts, measurements, firsts, therapies, procedures, strict=True
            ):
                stored[subject_id] = live_reading(subject_id, evaluate_subject(t, c, m, f, parameters, version, th, p))
        return [stored[subject_id] for subject_id in subject_ids]

    async def _subject_responses(self, subject_ids: list[int]) -> list[Any]:
        """Only the per-subject results (sustained response, ...), for the endpoint and the
        response filter over a whole cohort: the stored subject_response rows (one statement, no
        transfusion rows), or the full evaluation for a subject without a current row."""
        version, _ = await self.protocol()
        rows = await self._ctx.read(q.stored_subject_responses, subject_ids)
        current = {row.subject_id: row for row in rows if row.parameter_version == version}
        missing = [subject_id for subject_id in subject_ids if subject_id not in current]
        for subject_id, reading in zip(missing, await self.evaluation.load_many(missing), strict=True):
            current[subject_id] = reading.subject
        return [current[subject_id] for subject_id in subject_ids]

    async def _subjects(self, ids: list[int]) -> list[Subject | None]:
        return _index(await self._ctx.read(q.subjects_by_ids, ids), ids, lambda s: s.id)

    async def _subjects_by_code(self, codes: list[str]) -> list[Subject | None]:
        return _index(await self._ctx.read(q.subjects_by_codes, codes), codes, lambda s: s.code)

    async def _sites(self, ids: list[int]) -> list[Site | None]:
        return _index(await self._ctx.read(q.sites_by_ids, ids), ids, lambda s: s.id)

    def _children(self, model: type[Any], order_by: Any) -> Callable[[list[int]], Any]:
        async def load(subject_ids: list[int]) -> list[list[Any]]:
            rows = await self._ctx.read(q.records_of_subjects, model, subject_ids, order_by)
            return _group(rows, subject_ids, lambda r: r.subject_id)

        return load

    async def _devices(self, subject_ids: list[int]) -> list[list[Any]]:
        return _group(await self._ctx.read(qd.devices_of_subjects, subject_ids), subject_ids, lambda r: r.subject_id)

    async def _activations(self, subject_ids: list[int]) -> list[list[Any]]:
        rows = await self._ctx.read(qd.activations_of_subjects, subject_ids)
        return _group(rows, subject_ids, lambda r: r.subject_id)

    async def _first_infusions(self, subject_ids: list[int]) -> list[datetime | None]:
        """Study day 0 of each subject: the first live CAR-T infusion (any product)."""
        per_subject = await self.infusions.load_many(subject_ids)
        return [min((i.infused_at for i in infusions), default=None) for infusions in per_subject]

    async def _last_follow_ups(self, subject_ids: list[int]) -> list[datetime | None]:
        """The latest dated record of each subject (server.db.follow_up): one statement."""
        found = await self._ctx.read(qf.last_follow_ups, subject_ids)
        return [found.get(subject_id) for subject_id in subject_ids]

    async def _annotations(self, report_ids: list[int]) -> list[list[Any]]:
        rows = await self._ctx.read(q.annotations_of_reports, report_ids)
        return _group(rows, report_ids, lambda r: r.bleeding_report_id)

    async def _events_of_reports(self, report_ids: list[int]) -> list[list[Any]]:
        pairs = await self._ctx.read(q.events_of_reports, report_ids)
        events = await self.record_by_id(AdverseEvent).load_many(sorted({p[1] for p in pairs}))
        by_id = {event.id: event for event in events if event is not None}
        grouped = _group([p for p in pairs if p[1] in by_id], report_ids, lambda p: p[0])
        return [[by_id[p[1]] for p in group] for group in grouped]

    async def _review_states(self, report_ids: list[int]) -> list[list[Any]]:
        """(status, reviewed_at) of the events each report supports (no event records: patients too)."""
        rows = await self._ctx.read(q.review_states_of_reports, report_ids)
        return _group(rows, report_ids, lambda r: r.bleeding_report_id)

    async def _bleeding_days(self, keys: list[tuple[int, date, date]]) -> list[list[Any]]:
        """Reports of subjects' local days in a range: one statement per distinct range asked for
        in the request (usually one), whatever the number of subjects."""
        ranges: dict[tuple[date, date], list[int]] = defaultdict(list)
        for subject_id, first, last in keys:
            ranges[(first, last)].append(subject_id)
        found: dict[tuple[int, date, date], list[Any]] = {}
        for (first, last), subject_ids in ranges.items():
            rows = await self._ctx.read(q.bleeding_reports_in_days, subject_ids, first, last)
            for subject_id, group in zip(subject_ids, _group(rows, subject_ids, lambda r: r.subject_id), strict=True):
                found[(subject_id, first, last)] = group
        return [found[key] for key in keys]

    async def _reports_of_events(self, event_ids: list[int]) -> list[list[Any]]:
        rows = await self._ctx.read(q.reports_of_adverse_events, event_ids)
        return [[row[1] for row in group] for group in _group(rows, event_ids, lambda r: r[0])]

    def record_by_id(self, model: type[Any]) -> DataLoader[int, Any]:
        if model not in self._by_id:

            async def load(ids: list[int]) -> list[Any]:
                return _index(await self._ctx.read(q.records_by_ids, model, ids), ids, lambda r: r.id)

            self._by_id[model] = DataLoader(load)
        return self._by_id[model]
