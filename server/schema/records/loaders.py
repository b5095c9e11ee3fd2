"""The clinical records' dataloaders: status history, body measurements, lymphodepletion."""

from __future__ import annotations

from strawberry.dataloader import DataLoader

from ...db.models import (
    BodyMeasurement,
    LymphodepletionCourse,
    SubjectStatusChange,
)
from ..common.loaders import Loaders, LoaderSet


class RecordsLoaders(LoaderSet):
    def __init__(self, loaders: Loaders) -> None:
        super().__init__(loaders)
        self.status_history = DataLoader(self.loaders.children(SubjectStatusChange, SubjectStatusChange.changed_at))
        self.measurements = DataLoader(self.loaders.children(BodyMeasurement, BodyMeasurement.measured_at))
        self.lymphodepletions = DataLoader(
            self.loaders.children(LymphodepletionCourse, LymphodepletionCourse.start_date)
        )
