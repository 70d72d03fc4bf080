"""Base classes and shared data types of the CDS Hooks 2.0 schemas.

Spec: https://cds-hooks.hl7.org/2.0/ ("Use of JSON": null and empty JSON elements are prohibited
unless otherwise specified; "Data Types": Coding).
"""

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints

SPEC = "https://cds-hooks.hl7.org/2.0/"

# A string the spec lets us emit: never "" (spec "Null and empty JSON elements").
NonEmptyStr = Annotated[str, StringConstraints(min_length=1)]


class RequestModel(BaseModel):
    """Base of objects a CDS Client sends us: unknown fields are ignored (EHRs add fields)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class ResponseModel(BaseModel):
    """Base of objects we send: unknown fields are forbidden and nothing null or empty is emitted."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def to_json(self) -> dict[str, Any]:
        """The JSON form the spec prescribes (aliases, no nulls)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def reject_empty_list(value: list[Any] | None) -> list[Any] | None:
    """An OPTIONAL array is omitted rather than sent empty (spec "Null and empty JSON elements")."""
    if value is not None and len(value) == 0:
        raise ValueError("must be omitted rather than empty")
    return value


def reject_empty_dict(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """An OPTIONAL object is omitted rather than sent as {} (spec "Null and empty JSON elements")."""
    if value is not None and len(value) == 0:
        raise ValueError("must be omitted rather than empty")
    return value


class Coding(ResponseModel):
    """A code in a code system (https://cds-hooks.hl7.org/2.0/#coding)."""

    code: NonEmptyStr
    system: NonEmptyStr
    display: NonEmptyStr | None = None


class RequestCoding(RequestModel):
    """A Coding as received from a CDS Client (feedback override reasons), https://cds-hooks.hl7.org/2.0/#coding."""

    code: NonEmptyStr
    system: NonEmptyStr
    display: str | None = None
