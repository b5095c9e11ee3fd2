"""The trial as a whole: its protocol parameters and the cohort's endpoints and outcomes."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry

from ..db import queries as q
from ..services.response import EndpointSubject, endpoint_sustained, primary_endpoint
from .access.types import Site
from .common.context import Info
from .common.enums import CarTProduct, EndpointPopulation, KineticsMeasure
from .outcomes import queries as outcomes
from .outcomes.types import CohortCount, MedianValue
from .records.types import ProtocolParameters
from .response import before_after
from .response.loaders import ResponseLoaders
from .response.types import PrimaryEndpoint, SiteEndpoint

# The range is enforced at the edge (server.schema.common.edge.ARGUMENT_RANGES).
Month = Annotated[int, strawberry.argument(description="Months after the first CAR-T infusion, 0-120.")]


async def _endpoint_subjects(info: Info, with_sites: bool = False, sensitivity: bool = False) -> Any:
    """Infused subjects with what the endpoint needs; statements do not grow with the cohort."""
    subjects = await info.context.read(q.infused_subjects)
    ids = [s.id for s in subjects]
    infusions = await info.context.loaders.infusions.load_many(ids)
    responses = await info.context.loaders.of(ResponseLoaders).subject_response.load_many(ids)
    version, _ = await info.context.loaders.protocol()
    rows = [
        EndpointSubject(
            infused=True,
            per_protocol={i.product for i in given} >= {CarTProduct.CD19, CarTProduct.BCMA},
            sustained=endpoint_sustained(response, sensitivity),
        )
        for given, response in zip(infusions, responses, strict=True)
    ]
    if with_sites:
        return version, rows, [s.site_id for s in subjects]
    return version, rows


SENSITIVITY_ARGUMENT = Annotated[
    bool,
    strawberry.argument(
        description="True: the SENSITIVITY ANALYSIS, responders without the transfusions confounded by therapy (IVIG, TPO-RA)."
    ),
]


@strawberry.type(description="The trial this service holds.")
class Trial:
    code: str = strawberry.field(description="The trial's code.")
    title: str = strawberry.field(description="The trial's title.")

    @strawberry.field(
        description="The protocol parameters in force today: the newest version whose effective date has come. Derived values use it."
    )
    async def protocol_parameters(self, info: Info) -> ProtocolParameters:
        version, _ = await info.context.loaders.protocol()
        row = (await info.context.loaders.trial_protocol()).version(version)
        return ProtocolParameters.of(row, info.context.actor.sees_free_text)

    @strawberry.field(
        description="Sustained responders among infused (>= 1 CAR-T) or per-protocol (both products) subjects you may see, with the exact 95% CI."
    )
    async def primary_endpoint(
        self,
        info: Info,
        population: Annotated[
            EndpointPopulation,
            strawberry.argument(description="Infused (>= 1 CAR-T) or per-protocol (both products) subjects."),
        ],
        sensitivity: SENSITIVITY_ARGUMENT = False,
    ) -> PrimaryEndpoint:
        version, rows = await _endpoint_subjects(info, sensitivity=sensitivity)
        return PrimaryEndpoint.of(
            population, primary_endpoint(rows, population is EndpointPopulation.PER_PROTOCOL), version, sensitivity
        )

    @strawberry.field(description="The primary endpoint per site you may see.")
    async def primary_endpoint_by_site(
        self,
        info: Info,
        population: Annotated[
            EndpointPopulation,
            strawberry.argument(description="Infused (>= 1 CAR-T) or per-protocol (both products) subjects."),
        ],
        sensitivity: SENSITIVITY_ARGUMENT = False,
    ) -> list[SiteEndpoint]:
        version, rows, site_ids = await _endpoint_subjects(info, with_sites=True, sensitivity=sensitivity)
        per_protocol = population is EndpointPopulation.PER_PROTOCOL
        sites = [s for s in await info.context.loaders.site.load_many(sorted(set(site_ids))) if s is not None]
        return [
            SiteEndpoint(
                site=Site.of(site),
                endpoint=PrimaryEndpoint.of(
                    population,
                    primary_endpoint(
                        [row for row, sid in zip(rows, site_ids, strict=True) if sid == site.id], per_protocol
                    ),
                    version,
                    sensitivity,
                ),
            )
            for site in sorted(sites, key=lambda s: s.code)
        ]

    @strawberry.field(
        description="Subjects you may see with B-cell aplasia at a month after the CD19 infusion (analysts: the cohort)."
    )
    async def b_cell_aplasia_at(
        self,
        info: Info,
        month: Month,
        site_codes: Annotated[
            list[str] | None,
            strawberry.argument(description="Only these sites (of those you may see); null or omitted: all."),
        ] = None,
    ) -> CohortCount:
        return await outcomes.b_cell_aplasia_at(info, month, site_codes)

    @strawberry.field(description="Median Cmax of a CAR-T product across the subjects you may see.")
    async def median_cmax(
        self,
        info: Info,
        product: Annotated[CarTProduct, strawberry.argument(description="The CAR-T product.")],
        measure: Annotated[
            KineticsMeasure, strawberry.argument(description="QPCR (copies/ug DNA, default) or FLOW (CAR+ cells/uL).")
        ] = KineticsMeasure.QPCR,
        site_codes: Annotated[
            list[str] | None,
            strawberry.argument(description="Only these sites (of those you may see); null or omitted: all."),
        ] = None,
    ) -> MedianValue:
        return await outcomes.median_cmax(info, product, measure, site_codes)

    @strawberry.field(
        description="Subjects with HLA antibodies at baseline who cleared them within a number of months of the first CAR-T infusion."
    )
    async def hla_cleared_by(
        self,
        info: Info,
        month: Month,
        site_codes: Annotated[
            list[str] | None,
            strawberry.argument(description="Only these sites (of those you may see); null or omitted: all."),
        ] = None,
    ) -> CohortCount:
        return await outcomes.hla_cleared_by(info, month, site_codes)

    @strawberry.field(
        description="Before vs after CAR-T across the subjects you may see: paired differences (follow-up minus baseline), median difference, Hodges-Lehmann estimate and exact Wilcoxon signed-rank test. A site you cannot see adds no subject."
    )
    async def before_after_comparison(
        self,
        info: Info,
        measure: Annotated[
            before_after.BeforeAfterMeasure, strawberry.argument(description="The per-subject value to compare.")
        ],
        site_codes: Annotated[
            list[str] | None,
            strawberry.argument(description="Only these sites (of those you may see); null or omitted: all."),
        ] = None,
        population: Annotated[
            EndpointPopulation, strawberry.argument(description="INFUSED (default) or PER_PROTOCOL subjects.")
        ] = EndpointPopulation.INFUSED,
    ) -> before_after.BeforeAfterComparison:
        return await before_after.before_after_comparison(info, measure, site_codes, population)

    @strawberry.field(
        description="Kaplan-Meier time to an event after CAR-T across the subjects you may see: median (months) with its 95% CI, numbers at risk at months 1, 3, 6 and 12, and the curve. A site you cannot see adds no subject."
    )
    async def time_to_event(
        self,
        info: Info,
        event: Annotated[
            before_after.TimeToEventKind, strawberry.argument(description="The event whose time is estimated.")
        ],
        site_codes: Annotated[
            list[str] | None,
            strawberry.argument(description="Only these sites (of those you may see); null or omitted: all."),
        ] = None,
        population: Annotated[
            EndpointPopulation, strawberry.argument(description="INFUSED (default) or PER_PROTOCOL subjects.")
        ] = EndpointPopulation.INFUSED,
    ) -> before_after.TimeToEventEstimate:
        return await before_after.time_to_event(info, event, site_codes, population)

    @strawberry.field(description="Every version of the protocol parameters, oldest first.")
    async def protocol_parameter_history(self, info: Info) -> list[ProtocolParameters]:
        versions = (await info.context.loaders.trial_protocol()).versions
        return [ProtocolParameters.of(v, info.context.actor.sees_free_text) for v in versions]
