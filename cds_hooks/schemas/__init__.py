"""Pydantic models of every CDS Hooks 2.0 request and response object (https://cds-hooks.hl7.org/2.0/)."""

from cds_hooks.schemas.common import Coding, RequestCoding
from cds_hooks.schemas.feedback import AcceptedSuggestion, Feedback, FeedbackRequest, OverrideReason
from cds_hooks.schemas.requests import (
    HOOK_CONTEXTS,
    CdsRequest,
    EncounterDischargeContext,
    EncounterStartContext,
    FhirAuthorization,
    OrderSelectContext,
    OrderSignContext,
    PatientViewContext,
)
from cds_hooks.schemas.responses import (
    Action,
    Card,
    CdsResponse,
    CdsServiceDescription,
    DiscoveryResponse,
    Link,
    OverrideReasonCoding,
    Source,
    Suggestion,
)

__all__ = [
    "HOOK_CONTEXTS",
    "AcceptedSuggestion",
    "Action",
    "Card",
    "CdsRequest",
    "CdsResponse",
    "CdsServiceDescription",
    "Coding",
    "DiscoveryResponse",
    "EncounterDischargeContext",
    "EncounterStartContext",
    "Feedback",
    "FeedbackRequest",
    "FhirAuthorization",
    "Link",
    "OrderSelectContext",
    "OrderSignContext",
    "OverrideReason",
    "OverrideReasonCoding",
    "PatientViewContext",
    "RequestCoding",
    "Source",
    "Suggestion",
]
