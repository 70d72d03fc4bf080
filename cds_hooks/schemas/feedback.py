"""CDS Hooks 2.0 feedback request (https://cds-hooks.hl7.org/2.0/#feedback)."""

from datetime import datetime
from typing import Literal

from pydantic import Field

from cds_hooks.schemas.common import NonEmptyStr, RequestCoding, RequestModel


class AcceptedSuggestion(RequestModel):
    """An accepted suggestion (https://cds-hooks.hl7.org/2.0/#suggestion-accepted)."""

    id: NonEmptyStr


class OverrideReason(RequestModel):
    """Why a card was overridden (https://cds-hooks.hl7.org/2.0/#overridereason)."""

    reason: RequestCoding | None = None
    user_comment: str | None = Field(default=None, alias="userComment", max_length=2000)


class Feedback(RequestModel):
    """One feedback item (https://cds-hooks.hl7.org/2.0/#feedback)."""

    card: NonEmptyStr
    outcome: Literal["accepted", "overridden"]
    accepted_suggestions: list[AcceptedSuggestion] | None = Field(default=None, alias="acceptedSuggestions")
    override_reason: OverrideReason | None = Field(default=None, alias="overrideReason")
    outcome_timestamp: datetime = Field(alias="outcomeTimestamp")


class FeedbackRequest(RequestModel):
    """The body of `POST {baseUrl}/cds-services/{id}/feedback` (https://cds-hooks.hl7.org/2.0/#feedback)."""

    feedback: list[Feedback] = Field(min_length=1, max_length=100)
