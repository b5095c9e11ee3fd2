"""Per-request dataloaders: each relation is fetched once per request for all the parents that
ask for it, through the visibility-filtered read queries of server.db.queries.

`Loaders` (on the request's context) holds the loaders every domain uses (subjects, sites,
infusions, the protocol in force, records by id); each domain package keeps its own in a
`LoaderSet` of its loaders.py, made on the request's first use: `info.context.loaders.of(SafetyLoaders)`.
So the loaders are cut by domain like the rest of the schema, and common/ imports none of them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime, timezone
from typing import Any, Protocol, TypeVar, cast

from strawberry.dataloader import DataLoader

from ...db import queries as q
from ...db.models import CarTInfusion, PlateletCount, Site, Subject
from ...db.protocol_cache import ProtocolCache, TrialProtocol, read_trial_protocol
from ...domain.protocol import ProtocolParameters

K = TypeVar("K")
R = TypeVar("R")
T = TypeVar("T")


def today_utc() -> date:
    """The day whose protocol parameters a request applies (tests move it to a future date)."""
    return datetime.now(timezone.utc).date()


def group_by(rows: Sequence[R], keys: Sequence[K], key_of: Callable[[R], K]) -> list[list[R]]:
    groups: dict[K, list[R]] = defaultdict(list)
    for row in rows:
        groups[key_of(row)].append(row)
    return [groups.get(key, []) for key in keys]


def index_by(rows: Sequence[R], keys: Sequence[K], key_of: Callable[[R], K]) -> list[R | None]:
    by_key = {key_of(row): row for row in rows}
    return [by_key.get(key) for key in keys]


class Reads(Protocol):
    """What the loaders need of the request's context (common/context.py): its scoped reads and the
    protocol cache. A protocol rather than the Context class, so that the context can own its
    loaders without the two modules importing each other."""

    protocol_cache: ProtocolCache

    async def read(self, query: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T: ...


L = TypeVar("L", bound="LoaderSet")


class Loaders:
    def __init__(self, ctx: Reads) -> None:
        self.reads = ctx
        self.clear()

    def clear(self) -> None:
        """Starts every loader afresh, forgetting the rows read so far (after a write, and when the
        operation ends: see Context.end). New DataLoaders rather than their clear_all(), which
        keeps each loader's last batch and with it that batch's rows."""
        for loader_set in getattr(self, "_sets", {}).values():
            loader_set.release()
        self.subject = DataLoader(self._subjects)
        self.subject_by_code = DataLoader(self._subjects_by_code)
        self.site = DataLoader(self._sites)
        self.infusions = DataLoader(self.children(CarTInfusion, CarTInfusion.infused_at))
        self.platelet_counts = DataLoader(self.children(PlateletCount, PlateletCount.drawn_at))
        self.first_infusion_at = DataLoader(self._first_infusions)
        self._by_id: dict[type[Any], DataLoader[int, Any]] = {}
        self._sets: dict[type[LoaderSet], LoaderSet] = {}
        self._trial_protocol: TrialProtocol | None = None
        self._protocol: tuple[int, ProtocolParameters] | None = None

    def of(self, kind: type[L]) -> L:
        """A domain's loaders for this request, made on first use."""
        found = self._sets.get(kind)
        if found is None:
            found = self._sets[kind] = kind(self)
        return cast(L, found)

    async def trial_protocol(self) -> TrialProtocol:
        """The trial and all its parameter versions: the process's copy (server.db.protocol_cache),
        or, where none is kept between requests, read once in this request's snapshot."""
        if self._trial_protocol is None:
            cache = self.reads.protocol_cache
            if cache.across_requests:
                self._trial_protocol = await cache.get()
            else:
                self._trial_protocol = await self.reads.read(lambda session, _actor: read_trial_protocol(session))
        return self._trial_protocol

    async def protocol(self) -> tuple[int, ProtocolParameters]:
        """(version, parameters) in force today: one date for the whole request."""
        if self._protocol is None:
            self._protocol = (await self.trial_protocol()).in_force(today_utc())
        return self._protocol

    async def _subjects(self, ids: list[int]) -> list[Subject | None]:
        return index_by(await self.reads.read(q.subjects_by_ids, ids), ids, lambda s: s.id)

    async def _subjects_by_code(self, codes: list[str]) -> list[Subject | None]:
        return index_by(await self.reads.read(q.subjects_by_codes, codes), codes, lambda s: s.code)

    async def _sites(self, ids: list[int]) -> list[Site | None]:
        return index_by(await self.reads.read(q.sites_by_ids, ids), ids, lambda s: s.id)

    def children(self, model: type[Any], order_by: Any) -> Callable[[list[int]], Any]:
        """The batch function of a subject's child records of one model, in the given order."""

        async def load(subject_ids: list[int]) -> list[list[Any]]:
            rows = await self.reads.read(q.records_of_subjects, model, subject_ids, order_by)
            return group_by(rows, subject_ids, lambda r: r.subject_id)

        return load

    async def _first_infusions(self, subject_ids: list[int]) -> list[datetime | None]:
        """Study day 0 of each subject: the first live CAR-T infusion (any product)."""
        per_subject = await self.infusions.load_many(subject_ids)
        return [min((i.infused_at for i in infusions), default=None) for infusions in per_subject]

    def record_by_id(self, model: type[Any]) -> DataLoader[int, Any]:
        if model not in self._by_id:

            async def load(ids: list[int]) -> list[Any]:
                return index_by(await self.reads.read(q.records_by_ids, model, ids), ids, lambda r: r.id)

            self._by_id[model] = DataLoader(load)
        return self._by_id[model]


class LoaderSet:
    """One domain's dataloaders for one request (see the module's docstring). Subclasses make
    their DataLoaders in __init__; `loaders` gives the shared ones and the other domains' sets."""

    def __init__(self, loaders: Loaders) -> None:
        self.loaders = loaders
        self.reads = loaders.reads

    def release(self) -> None:
        """Drops this set's loaders and their rows. A set's DataLoaders hold its bound methods, a
        reference cycle that only the cyclic collector would free; emptying the set breaks it, so
        the rows go as soon as the request is over (see Loaders.clear)."""
        vars(self).clear()
