"""The therapies' dataloaders: a subject's therapies and procedures."""

from __future__ import annotations

from strawberry.dataloader import DataLoader

from ...db.models import (
    Procedure,
    Therapy,
)
from ..common.loaders import Loaders, LoaderSet


class TherapiesLoaders(LoaderSet):
    def __init__(self, loaders: Loaders) -> None:
        super().__init__(loaders)
        self.therapies = DataLoader(self.loaders.children(Therapy, Therapy.start_date))
        self.procedures = DataLoader(self.loaders.children(Procedure, Procedure.performed_on))
