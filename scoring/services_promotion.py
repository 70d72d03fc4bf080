"""Governed promotion: a promotion request (challenger vs champion, with evidence), a second person's approval or
rejection with a reason (the two-person rule, PROMOTION_TWO_PERSON_RULE), rollback in one action, and the model's
change log. Every step is audited (action "admin_change")."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.models import AuditRecord
from audit.services import audit_record_create
from config.errors import PermissionDenied, ValidationFailed
from scoring.models import ModelChange, ModelVersion, PromotionRequest
from scoring.promotion_evidence import promotion_evidence
from scoring.services_registry import model_status_set

Status = ModelVersion.Status
PROMOTABLE = {
    PromotionRequest.Target.CANARY: (Status.SHADOW,),
    PromotionRequest.Target.ACTIVE: (Status.SHADOW, Status.CANARY),
}


def _audit(request: PromotionRequest, *, actor: str, what: str, reason: str) -> None:
    mv = request.challenger
    audit_record_create(
        action=AuditRecord.Action.ADMIN_CHANGE,
        actor=actor,
        model_name=mv.name,
        model_version=mv.version,
        spec_version=mv.spec_version,
        detail={
            "what": what,
            "request": request.pk,
            "target": request.target_status,
            "champion": request.champion.version if request.champion else None,
            "reason": reason,
        },
    )


def _required(reason: str) -> None:
    if not reason.strip():
        raise ValidationFailed("A reason is required.", extra={"fields": {"reason": "required"}})


def champion_of(name: str) -> ModelVersion | None:
    """The active version of `name`."""
    return ModelVersion.objects.filter(name=name, status=Status.ACTIVE).first()


@transaction.atomic
def promotion_request_create(
    *, challenger: ModelVersion, target_status: str, requested_by: str, reason: str
) -> PromotionRequest:
    """Ask to promote `challenger` to canary or active; the evidence is computed and kept now."""
    _required(reason)
    allowed = PROMOTABLE.get(target_status)  # type: ignore[call-overload]
    if allowed is None or challenger.status not in allowed:
        raise ValidationFailed(
            f"{challenger} cannot be promoted to {target_status!r}: a shadow version goes to canary or active, "
            "a canary version to active.",
            extra={"fields": {"target_status": "invalid"}},
        )
    if PromotionRequest.objects.filter(challenger=challenger, state=PromotionRequest.State.PENDING).exists():
        raise ValidationFailed(f"{challenger} already has a pending promotion request.")
    champion = champion_of(challenger.name)
    request = PromotionRequest.objects.create(
        challenger=challenger,
        champion=champion,
        target_status=target_status,
        reason=reason,
        requested_by=requested_by,
        evidence=promotion_evidence(challenger, champion),
    )
    _audit(request, actor=requested_by, what="promotion_request", reason=reason)
    return request


TWO_PERSON = "Two-person rule: the person who requested a promotion cannot approve it; a second person must."
DECISIONS = ("approve", "reject", "rollback")


def decision_problem(request: PromotionRequest, decision: str, actor: str, reason: str) -> str | None:
    """Why `actor` may not take `decision` on `request` now (None when they may)."""
    wanted = PromotionRequest.State.APPROVED if decision == "rollback" else PromotionRequest.State.PENDING
    if decision not in DECISIONS:
        return f"Unknown decision {decision!r}."
    if not reason.strip():
        return "A reason is required."
    if request.state != wanted:
        return f"This request is {request.state}; only a {wanted} one can take {decision!r}."
    if decision == "approve" and settings.PROMOTION_TWO_PERSON_RULE and actor == request.requested_by:
        return TWO_PERSON
    return None


def _allowed(request: PromotionRequest, decision: str, actor: str, reason: str) -> None:
    problem = decision_problem(request, decision, actor, reason)
    if problem == TWO_PERSON:
        raise PermissionDenied(problem)
    if problem is not None:
        raise ValidationFailed(problem)


def promotion_decide(*, request: PromotionRequest, decision: str, actor: str, reason: str) -> PromotionRequest:
    """Approve, reject or roll back (the admin's and the command's one entry)."""
    act = {"approve": promotion_approve, "reject": promotion_reject, "rollback": promotion_rollback}.get(decision)
    if act is None:
        raise ValidationFailed(f"Unknown decision {decision!r}.")
    return act(request=request, actor=actor, reason=reason)


def _decide(request: PromotionRequest, *, actor: str, reason: str, state: str) -> None:
    request.state = state
    request.decided_by, request.decided_at, request.decision_reason = actor, timezone.now(), reason


@transaction.atomic
def promotion_approve(*, request: PromotionRequest, actor: str, reason: str) -> PromotionRequest:
    """A second person approves: the challenger takes the target status (the previous holder is retired)."""
    _allowed(request, "approve", actor, reason)
    approver = actor
    name = request.challenger.name
    holders = ModelVersion.objects.filter(name=name, status__in=(Status.ACTIVE, Status.CANARY))
    request.statuses_before = {mv.version: mv.status for mv in [*holders, request.challenger]}
    model_status_set(mv=request.challenger, status=request.target_status, actor=approver, reason=reason)
    _decide(request, actor=approver, reason=reason, state=PromotionRequest.State.APPROVED)
    request.save()
    _log(request, kind=ModelChange.Kind.PROMOTION, actor=request.requested_by, approver=approver)
    _audit(request, actor=approver, what="promotion_approve", reason=reason)
    return request


@transaction.atomic
def promotion_reject(*, request: PromotionRequest, actor: str, reason: str) -> PromotionRequest:
    """Reject (or, by the requester, withdraw) a pending request; nothing changes status."""
    _allowed(request, "reject", actor, reason)
    _decide(request, actor=actor, reason=reason, state=PromotionRequest.State.REJECTED)
    request.save()
    _audit(request, actor=actor, what="promotion_reject", reason=reason)
    return request


@transaction.atomic
def promotion_rollback(*, request: PromotionRequest, actor: str, reason: str) -> PromotionRequest:
    """Undo an approved promotion in one action: every version it touched gets its status back."""
    _allowed(request, "rollback", actor, reason)
    versions = {mv.version: mv for mv in ModelVersion.objects.filter(name=request.challenger.name)}
    challenger_before = request.statuses_before.get(request.challenger.version, Status.SHADOW)
    model_status_set(mv=versions[request.challenger.version], status=challenger_before, actor=actor, reason=reason)
    for version, status in request.statuses_before.items():
        mv = versions.get(version)
        if mv is not None and version != request.challenger.version and mv.status != status:
            mv.refresh_from_db()
            model_status_set(mv=mv, status=status, actor=actor, reason=reason)
    request.state = PromotionRequest.State.ROLLED_BACK
    request.rolled_back_by, request.rolled_back_at, request.rollback_reason = actor, timezone.now(), reason
    request.save()
    _log(request, kind=ModelChange.Kind.ROLLBACK, actor=actor, approver="")
    _audit(request, actor=actor, what="promotion_rollback", reason=reason)
    return request


def _log(request: PromotionRequest, *, kind: str, actor: str, approver: str) -> ModelChange:
    champion = request.champion.version if request.champion else "none"
    if kind == ModelChange.Kind.PROMOTION:
        what = f"{request.challenger.version} promoted to {request.target_status} (champion was {champion})"
        why, before, after = request.reason, request.statuses_before, _statuses(request)
    else:
        what = f"promotion of {request.challenger.version} to {request.target_status} rolled back"
        why, before, after = request.rollback_reason, {}, request.statuses_before
    return ModelChange.objects.create(
        model_version=request.challenger,
        kind=kind,
        what=what,
        reason=why,
        evidence=request.evidence,
        changed_by=actor,
        approved_by=approver,
        request=request,
        before=before,
        after=after,
    )


def _statuses(request: PromotionRequest) -> dict[str, str]:
    names = list(request.statuses_before)
    return dict(
        ModelVersion.objects.filter(name=request.challenger.name, version__in=names).values_list("version", "status")
    )


def adaptation_log(*, mv: ModelVersion, actor: str, reason: str) -> ModelChange:
    """The change-log entry of a version adapted to local data (registered as shadow; serves no one yet)."""
    seen = (mv.card or {}).get("adaptation") or {}
    used = seen.get("used_for_adaptation") or {}
    metrics = (mv.card or {}).get("metrics") or {}
    return ModelChange.objects.create(
        model_version=mv,
        kind=ModelChange.Kind.ADAPTATION,
        what=f"{mv.version}: {seen.get('base_version')} adapted by {seen.get('method')} on {used.get('stays')} "
        f"local stays ({used.get('septic_stays')} septic) of {', '.join(seen.get('site_data', {}).get('files', []))}",
        reason=reason,
        evidence={
            "method": seen.get("method_description"),
            "site_data": seen.get("site_data"),
            "validation": seen.get("validation"),
            "heldout_adapted": {
                k: metrics.get("external_site_heldout", {}).get(k) for k in ("auroc", "auprc", "utility", "ece")
            },
            "heldout_original": {
                k: metrics.get("original_site_heldout", {}).get(k) for k in ("auroc", "auprc", "utility", "ece")
            },
        },
        changed_by=actor,
        before={},
        after={mv.version: mv.status},
    )
