"""The sandbox's subscription topics, the R4 way (HL7 Subscriptions R5 Backport IG 1.1.0, "Topics in R4").

FHIR R4 has no SubscriptionTopic resource: a topic is named by its canonical URL (`Subscription.criteria`),
advertised in the CapabilityStatement (extension `capabilitystatement-subscriptiontopic-canonical`) and
published as a `Basic` resource coded `fhir-types#SubscriptionTopic` carrying the R5 elements as
cross-version extensions (the IG's example Basic/r4-encounter-complete).
https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/components.html#subscription-topics
"""

from dataclasses import dataclass
from typing import Any

TOPIC_BASE = "https://stratify.example.org/fhir/SubscriptionTopic"
CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"
_R5 = "http://hl7.org/fhir/5.0/StructureDefinition/extension-SubscriptionTopic"
_R43 = "http://hl7.org/fhir/4.3/StructureDefinition/extension-SubscriptionTopic"
# The patient a notification may be narrowed to (canFilterBy): both names of the compartment reference.
FILTER_PARAMS = ("patient", "subject")


@dataclass(frozen=True)
class Topic:
    """One topic: created or updated resources of a type (Observations: of one category)."""

    id: str
    title: str
    resource_type: str
    category: str = ""

    @property
    def url(self) -> str:
        """The topic's canonical URL (what `Subscription.criteria` names)."""
        return f"{TOPIC_BASE}/{self.id}"

    @property
    def description(self) -> str:
        """When it fires, in words."""
        what = f"{self.resource_type} of category {self.category}" if self.category else self.resource_type
        return f"A {what} is created or updated."


TOPICS = (
    Topic("vital-signs-observation", "New or updated vital-sign Observation", "Observation", "vital-signs"),
    Topic("laboratory-observation", "New or updated laboratory Observation", "Observation", "laboratory"),
    Topic("encounter-change", "Encounter created or changed", "Encounter"),
)
TOPIC_TYPES = frozenset(t.resource_type for t in TOPICS)


def topic_by_url(url: str) -> Topic | None:
    """The topic a canonical URL names (a `|version` suffix is ignored), None when it is not ours."""
    bare = url.split("|", 1)[0] if isinstance(url, str) else ""
    return next((t for t in TOPICS if t.url == bare), None)


def _categories(resource: dict[str, Any]) -> set[str]:
    return {
        str(coding.get("code"))
        for concept in resource.get("category") or ()
        if isinstance(concept, dict)
        for coding in concept.get("coding") or ()
        if isinstance(coding, dict) and coding.get("system") == CATEGORY_SYSTEM
    }


def topic_matches(topic: Topic, resource: dict[str, Any]) -> bool:
    """Whether a created or updated resource is an event of the topic (its resourceTrigger)."""
    if resource.get("resourceType") != topic.resource_type:
        return False
    return not topic.category or topic.category in _categories(resource)


def _trigger(topic: Topic) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [
        {"url": "description", "valueMarkdown": topic.description},
        {"url": "resource", "valueUri": f"http://hl7.org/fhir/StructureDefinition/{topic.resource_type}"},
        {"url": "supportedInteraction", "valueCode": "create"},
        {"url": "supportedInteraction", "valueCode": "update"},
    ]
    if topic.category:
        parts.append(
            {"url": "fhirPathCriteria", "valueString": f"%current.category.coding.code contains '{topic.category}'"}
        )
    return {"url": f"{_R43}.resourceTrigger", "extension": parts}


def _filter(topic: Topic, name: str) -> dict[str, Any]:
    return {
        "url": f"{_R43}.canFilterBy",
        "extension": [
            {"url": "description", "valueMarkdown": f"Only this patient's {topic.resource_type} resources."},
            {"url": "resource", "valueUri": topic.resource_type},
            {"url": "filterParameter", "valueString": name},
        ],
    }


def topic_basic(topic: Topic) -> dict[str, Any]:
    """The topic as an R4 `Basic` resource (the IG's representation of a SubscriptionTopic in R4)."""
    return {
        "resourceType": "Basic",
        "id": f"topic-{topic.id}",
        "extension": [
            {"url": f"{_R5}.url", "valueUri": topic.url},
            {"url": f"{_R5}.title", "valueString": topic.title},
            {"url": f"{_R5}.description", "valueMarkdown": topic.description},
            _trigger(topic),
            *(_filter(topic, name) for name in FILTER_PARAMS),
        ],
        "modifierExtension": [{"url": f"{_R5}.status", "valueCode": "active"}],
        "code": {"coding": [{"system": "http://hl7.org/fhir/fhir-types", "code": "SubscriptionTopic"}]},
    }


def topics_publish() -> int:
    """Store the topics' Basic resources (idempotent: unchanged ones are no-ops); how many were written."""
    from django.db import transaction

    from sandbox_ehr.fhir.store import Write, resources_store  # the store imports the subscription modules

    with transaction.atomic():
        stored = resources_store([Write(topic_basic(t), internal=True) for t in TOPICS])
    return sum(s.changed for s in stored)
