"""Every write: the root Mutation type, made of each domain's mutations.

Each mutation is one use case of server.services in one transaction, and answers a union of its
success type and the typed errors (common/errors.py)."""

from __future__ import annotations

import strawberry

from .access.mutations import AccessMutation
from .outcomes.mutations import OutcomesMutation
from .records.mutations import RecordsMutation
from .response.mutations import ResponseMutation
from .safety.mutations import SafetyMutation
from .subjects.mutations import SubjectsMutation
from .therapies.mutations import TherapiesMutation


@strawberry.type(
    description="Every write. Each is one transaction, audited; expected failures come back as a UserError member of the result union.",
)
class Mutation(
    SubjectsMutation,
    AccessMutation,
    RecordsMutation,
    ResponseMutation,
    SafetyMutation,
    OutcomesMutation,
    TherapiesMutation,
):
    pass
