"""CDS Hooks 2.0 objects we send: discovery, the service response (cards, system actions)."""

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from cds_hooks.schemas.common import Coding, NonEmptyStr, ResponseModel, reject_empty_dict, reject_empty_list

Indicator = Literal["info", "warning", "critical"]


class CdsServiceDescription(ResponseModel):
    """One CDS Service in the discovery response (https://cds-hooks.hl7.org/2.0/#response)."""

    hook: NonEmptyStr
    title: NonEmptyStr | None = None
    description: NonEmptyStr
    id: NonEmptyStr
    prefetch: dict[str, NonEmptyStr] | None = None
    usage_requirements: NonEmptyStr | None = Field(default=None, alias="usageRequirements")
    extension: dict[str, Any] | None = None

    _no_empty_prefetch = field_validator("prefetch", "extension")(reject_empty_dict)


class DiscoveryResponse(ResponseModel):
    """The discovery document `GET {baseUrl}/cds-services` (https://cds-hooks.hl7.org/2.0/#discovery).

    An empty `services` array is allowed by the spec when a server hosts no service.
    """

    services: list[CdsServiceDescription]


class Source(ResponseModel):
    """The source of a card's guidance (https://cds-hooks.hl7.org/2.0/#source)."""

    label: NonEmptyStr
    url: NonEmptyStr | None = None
    icon: NonEmptyStr | None = None
    topic: Coding | None = None


class Action(ResponseModel):
    """A suggested or system action (https://cds-hooks.hl7.org/2.0/#action)."""

    type: Literal["create", "update", "delete"]
    description: NonEmptyStr
    resource: dict[str, Any] | None = None
    resource_id: NonEmptyStr | None = Field(default=None, alias="resourceId")

    @model_validator(mode="after")
    def _resource_for_type(self) -> "Action":
        if self.type in ("create", "update") and not self.resource:
            raise ValueError(f"a {self.type} action needs a resource")
        return self


class Suggestion(ResponseModel):
    """A suggestion on a card (https://cds-hooks.hl7.org/2.0/#suggestion)."""

    label: NonEmptyStr
    uuid: NonEmptyStr | None = None
    is_recommended: bool | None = Field(default=None, alias="isRecommended")
    actions: list[Action] | None = None

    _no_empty = field_validator("actions")(reject_empty_list)


class Link(ResponseModel):
    """A link on a card, `absolute` or a SMART app launch (https://cds-hooks.hl7.org/2.0/#link)."""

    label: NonEmptyStr
    url: NonEmptyStr
    type: Literal["absolute", "smart"]
    app_context: NonEmptyStr | None = Field(default=None, alias="appContext")
    autolaunchable: bool | None = None

    @model_validator(mode="after")
    def _app_context_only_for_smart(self) -> "Link":
        if self.app_context is not None and self.type != "smart":
            raise ValueError("appContext is only valid on smart links")
        return self


class OverrideReasonCoding(Coding):
    """An override reason we offer: a Coding whose `display` is REQUIRED
    (https://cds-hooks.hl7.org/2.0/#reasons-for-rejecting-a-card)."""

    display: NonEmptyStr


class Card(ResponseModel):
    """One card (https://cds-hooks.hl7.org/2.0/#card-attributes)."""

    uuid: NonEmptyStr | None = None
    summary: NonEmptyStr = Field(max_length=139)  # "<140-character summary"
    detail: NonEmptyStr | None = None
    indicator: Indicator
    source: Source
    suggestions: list[Suggestion] | None = None
    selection_behavior: Literal["at-most-one", "any"] | None = Field(default=None, alias="selectionBehavior")
    override_reasons: list[OverrideReasonCoding] | None = Field(default=None, alias="overrideReasons")
    links: list[Link] | None = None

    _no_empty = field_validator("suggestions", "override_reasons", "links")(reject_empty_list)

    @model_validator(mode="after")
    def _selection_behavior_with_suggestions(self) -> "Card":
        if self.suggestions and self.selection_behavior is None:
            raise ValueError("selectionBehavior is required when suggestions are present")
        return self


class CdsResponse(ResponseModel):
    """The service response (https://cds-hooks.hl7.org/2.0/#http-response).

    `cards` is REQUIRED and is the one array the spec lets be empty ("no decision support").
    """

    cards: list[Card]
    system_actions: list[Action] | None = Field(default=None, alias="systemActions")

    _no_empty = field_validator("system_actions")(reject_empty_list)
