"""The response engine's dataloaders: transfusions, their evaluation, the per-subject response,
the last follow-up."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from strawberry.dataloader import DataLoader

from ...db import follow_up as qf
from ...db import queries as q
from ...db.models import (
    PlateletTransfusion,
)
from ...services.response import ResponseReading, evaluate_subject, live_reading, stored_readings
from ..common.loaders import Loaders, LoaderSet
from ..records.loaders import RecordsLoaders
from ..therapies.loaders import TherapiesLoaders


class ResponseLoaders(LoaderSet):
    def __init__(self, loaders: Loaders) -> None:
        super().__init__(loaders)
        self.transfusions = DataLoader(self.loaders.children(PlateletTransfusion, PlateletTransfusion.started_at))
        self.evaluation = DataLoader(self._evaluations)
        self.subject_response = DataLoader(self._subject_responses)
        self.last_follow_up = DataLoader(self._last_follow_ups)

    async def _evaluations(self, subject_ids: list[int]) -> list[ResponseReading]:
        """The response engine's results, read from the stored rows that every write keeps in step
        (two statements; see services.response). A subject without a current row (none yet, or
        one produced under another parameter version than today's) is evaluated live from its
        records, as is one whose stored transfusions differ from the ones this request already
        read. Every write through the services keeps the rows current; rows written around them
        (a bulk load) are current again after `ptr-trial refresh-responses`."""
        version, parameters = await self.loaders.protocol()
        stored = stored_readings(
            await self.reads.read(q.stored_subject_responses, subject_ids),
            await self.reads.read(q.stored_transfusion_responses, subject_ids),
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
            counts = await self.loaders.platelet_counts.load_many(live)
            measurements = await self.loaders.of(RecordsLoaders).measurements.load_many(live)
            firsts = await self.loaders.first_infusion_at.load_many(live)
            therapies = await self.loaders.of(TherapiesLoaders).therapies.load_many(live)
            procedures = await self.loaders.of(TherapiesLoaders).procedures.load_many(live)
            for subject_id, t, c, m, f, th, p in zip(
                live, transfusions, counts, measurements, firsts, therapies, procedures, strict=True
            ):
                stored[subject_id] = live_reading(subject_id, evaluate_subject(t, c, m, f, parameters, version, th, p))
        return [stored[subject_id] for subject_id in subject_ids]

    async def _subject_responses(self, subject_ids: list[int]) -> list[Any]:
        """Only the per-subject results (sustained response, ...), for the endpoint and the
        response filter over a whole cohort: the stored subject_response rows (one statement, no
        transfusion rows), or the full evaluation for a subject without a current row."""
        version, _ = await self.loaders.protocol()
        rows = await self.reads.read(q.stored_subject_responses, subject_ids)
        current = {row.subject_id: row for row in rows if row.parameter_version == version}
        missing = [subject_id for subject_id in subject_ids if subject_id not in current]
        for subject_id, reading in zip(missing, await self.evaluation.load_many(missing), strict=True):
            current[subject_id] = reading.subject
        return [current[subject_id] for subject_id in subject_ids]

    async def _last_follow_ups(self, subject_ids: list[int]) -> list[datetime | None]:
        """The latest dated record of each subject (server.db.follow_up): one statement."""
        found = await self.reads.read(qf.last_follow_ups, subject_ids)
        return [found.get(subject_id) for subject_id in subject_ids]
