"""The secondary outcomes' dataloaders: a subject's lab results and antibody tests."""

from __future__ import annotations

from strawberry.dataloader import DataLoader

from ...db.models import (
    AntibodyTest,
    LabResult,
)
from ..common.loaders import Loaders, LoaderSet


class OutcomesLoaders(LoaderSet):
    def __init__(self, loaders: Loaders) -> None:
        super().__init__(loaders)
        self.lab_results = DataLoader(self.loaders.children(LabResult, LabResult.collected_at))
        self.antibody_tests = DataLoader(self.loaders.children(AntibodyTest, AntibodyTest.collected_at))
