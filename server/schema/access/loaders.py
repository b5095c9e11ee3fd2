"""The access dataloaders: a subject's phones and activation codes."""

from __future__ import annotations

from typing import Any

from strawberry.dataloader import DataLoader

from ...db import devices as qd
from ..common.loaders import Loaders, LoaderSet, group_by


class AccessLoaders(LoaderSet):
    def __init__(self, loaders: Loaders) -> None:
        super().__init__(loaders)
        self.devices = DataLoader(self._devices)
        self.activations = DataLoader(self._activations)

    async def _devices(self, subject_ids: list[int]) -> list[list[Any]]:
        return group_by(await self.reads.read(qd.devices_of_subjects, subject_ids), subject_ids, lambda r: r.subject_id)

    async def _activations(self, subject_ids: list[int]) -> list[list[Any]]:
        rows = await self.reads.read(qd.activations_of_subjects, subject_ids)
        return group_by(rows, subject_ids, lambda r: r.subject_id)
