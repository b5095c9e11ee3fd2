"""Live site alerts over graphql-transport-ws."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry

from ...db.notify import AlertBus
from ...domain.auth import Actor
from ...domain.enums import Role
from ..common.context import Info
from ..common.permissions import ReceivesSiteAlerts
from .types import (
    Alert,
)


@strawberry.type(description="Live events, over graphql-transport-ws.")
class Subscription:
    @strawberry.subscription(
        permission_classes=[ReceivesSiteAlerts],
        description='Alerts of your sites as they are raised (graphql-transport-ws; send {"Authorization": "Bearer <token>"} in connection_init). Missed alerts stay in the `alerts` inbox.',
    )
    async def site_alerts(
        self,
        info: Info,
        site_codes: Annotated[
            list[str] | None,
            strawberry.argument(description="Only alerts of these sites (of those you may see); null or omitted: all."),
        ] = None,
    ) -> AsyncGenerator[Alert, None]:
        return _alerts_for(info.context.actor, info.context.alert_bus, site_codes)


async def _alerts_for(actor: Actor, bus: AlertBus, site_codes: list[str] | None) -> AsyncGenerator[Alert, None]:
    queue = bus.subscribe()
    try:
        while True:
            payload = await queue.get()
            site = payload["siteCode"]
            if (actor.role is Role.ADMIN or site in actor.site_codes) and (site_codes is None or site in site_codes):
                yield Alert.of_payload(payload)
    finally:
        bus.unsubscribe(queue)
