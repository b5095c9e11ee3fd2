"""The safety dataloaders: diary reports, adverse events, their links, reviews and annotations."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from strawberry.dataloader import DataLoader

from ...db import queries as q
from ...db.models import (
    AdverseEvent,
    BleedingReport,
)
from ..common.loaders import Loaders, LoaderSet, group_by


class SafetyLoaders(LoaderSet):
    def __init__(self, loaders: Loaders) -> None:
        super().__init__(loaders)
        self.bleeding_reports = DataLoader(self.loaders.children(BleedingReport, BleedingReport.id))
        self.adverse_events = DataLoader(self.loaders.children(AdverseEvent, AdverseEvent.onset_date))
        self.annotations = DataLoader(self._annotations)
        self.events_of_report = DataLoader(self._events_of_reports)
        self.review_states = DataLoader(self._review_states)
        self.reports_of_event = DataLoader(self._reports_of_events)
        self.bleeding_days = DataLoader(self._bleeding_days)

    async def _annotations(self, report_ids: list[int]) -> list[list[Any]]:
        rows = await self.reads.read(q.annotations_of_reports, report_ids)
        return group_by(rows, report_ids, lambda r: r.bleeding_report_id)

    async def _events_of_reports(self, report_ids: list[int]) -> list[list[Any]]:
        pairs = await self.reads.read(q.events_of_reports, report_ids)
        events = await self.loaders.record_by_id(AdverseEvent).load_many(sorted({p[1] for p in pairs}))
        by_id = {event.id: event for event in events if event is not None}
        grouped = group_by([p for p in pairs if p[1] in by_id], report_ids, lambda p: p[0])
        return [[by_id[p[1]] for p in group] for group in grouped]

    async def _review_states(self, report_ids: list[int]) -> list[list[Any]]:
        """(status, reviewed_at) of the events each report supports (no event records: patients too)."""
        rows = await self.reads.read(q.review_states_of_reports, report_ids)
        return group_by(rows, report_ids, lambda r: r.bleeding_report_id)

    async def _bleeding_days(self, keys: list[tuple[int, date, date]]) -> list[list[Any]]:
        """Reports of subjects' local days in a range: one statement per distinct range asked for
        in the request (usually one), whatever the number of subjects."""
        ranges: dict[tuple[date, date], list[int]] = defaultdict(list)
        for subject_id, first, last in keys:
            ranges[(first, last)].append(subject_id)
        found: dict[tuple[int, date, date], list[Any]] = {}
        for (first, last), subject_ids in ranges.items():
            rows = await self.reads.read(q.bleeding_reports_in_days, subject_ids, first, last)
            for subject_id, group in zip(subject_ids, group_by(rows, subject_ids, lambda r: r.subject_id), strict=True):
                found[(subject_id, first, last)] = group
        return [found[key] for key in keys]

    async def _reports_of_events(self, event_ids: list[int]) -> list[list[Any]]:
        rows = await self.reads.read(q.reports_of_adverse_events, event_ids)
        return [[row[1] for row in group] for group in group_by(rows, event_ids, lambda r: r[0])]
