"""Launch flow services: begin (state, PKCE, nonce), complete (code exchange, id_token, context), token upkeep."""

import contextlib
import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.db import transaction
from django.utils import timezone

from config.keys import decrypt_text, encrypt_text
from smart_launch import client
from smart_launch.appcontext import app_context_validate
from smart_launch.errors import (
    AuthorizationDenied,
    EhrNotRegistered,
    IdTokenInvalid,
    LaunchInvalid,
    LaunchStateInvalid,
    SessionExpired,
)
from smart_launch.models import AuthorizationRequest, EhrRegistration, SmartSession

SESSION_BINDING_KEY = "smart_binding"
SESSION_SMART_KEY = "smart_session"
MAX_PARAM_LENGTH = 2048
ASK_ADMIN = "Ask your EHR administrator to register this EHR for Stratify (Django admin, EHR registrations)."
EHR_ERRORS = {
    "access_denied": (
        "Access was declined: you or the EHR did not approve the app's request.",
        "Launch the app again and approve access, or ask your EHR administrator to grant it.",
    ),
    "invalid_scope": (
        "The EHR refused the data permissions (scopes) the app asked for.",
        "Ask your EHR administrator to allow these scopes for the app, or adjust the scopes "
        "of this EHR's registration in Stratify.",
    ),
    "unauthorized_client": (
        "The EHR does not allow this app to sign in this way.",
        "Ask your EHR administrator to check the app's client registration.",
    ),
}


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _binding(session: SessionBase) -> str:
    """A per-browser secret kept in the Django session; authorization requests are bound to it."""
    if not session.get(SESSION_BINDING_KEY):
        session[SESSION_BINDING_KEY] = secrets.token_urlsafe(32)
    return str(session[SESSION_BINDING_KEY])


def redirect_uri() -> str:
    """Our registered redirect URI."""
    return f"{settings.PUBLIC_BASE_URL}/smart/callback"


def registration_for_iss(iss: str) -> EhrRegistration:
    """The enabled registration of `iss`, or a clear refusal."""
    registration = EhrRegistration.objects.filter(iss=iss.rstrip("/")).first()
    if registration is None:
        raise EhrNotRegistered(
            "This EHR is not registered with Stratify, so the app cannot be launched from it.",
            what_to_do=ASK_ADMIN,
            extra={"iss": iss[:300]},
        )
    if not registration.enabled:
        raise EhrNotRegistered(
            "Launches from this EHR are switched off in Stratify.",
            what_to_do="Ask your Stratify administrator to enable this EHR's registration.",
            extra={"iss": iss[:300]},
        )
    return registration


def _param(value: str | None, name: str) -> str:
    if not value or not value.strip():
        what = "which FHIR server launched the app (no `iss`)" if name == "iss" else f"the `{name}` parameter"
        raise LaunchInvalid(f"The launch request did not say {what}.")
    if len(value) > MAX_PARAM_LENGTH:
        raise LaunchInvalid(f"The launch request's `{name}` parameter is too long.")
    return value.strip()


def launch_begin(*, session: SessionBase, iss: str | None, launch: str | None, standalone: bool) -> str:
    """Start an EHR (iss + launch) or standalone (iss) launch; returns the authorization URL to redirect to."""
    iss_value = _param(iss, "iss")
    launch_value = None if standalone else _param(launch, "launch")
    registration = registration_for_iss(iss_value)
    config = client.discover(registration.iss)
    state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(64)
    AuthorizationRequest.objects.create(
        state_digest=_digest(state),
        binding_digest=_digest(_binding(session)),
        registration=registration,
        code_verifier_encrypted=encrypt_text(verifier),
        nonce=nonce,
        launch_kind="standalone" if standalone else "ehr",
    )
    scope = client.launch_scopes(
        config=config,
        clinical_scopes=registration.scopes,
        standalone=standalone,
        offline_access=registration.offline_access,
    )
    return client.authorization_url(
        config=config,
        client_id=registration.client_id,
        redirect_uri=redirect_uri(),
        scope=scope,
        state=state,
        nonce=nonce,
        code_verifier=verifier,
        launch=launch_value,
    )


def authorization_request_consume(*, session: SessionBase, state: str | None) -> AuthorizationRequest:
    """The pending request of `state`: known, bound to this browser, unused (marked used now), not expired."""
    if not state:
        raise LaunchStateInvalid("The EHR's answer carried no `state`, so it cannot be matched to a launch.")
    pending = (
        AuthorizationRequest.objects.select_related("registration")
        .filter(state_digest=_digest(state[:MAX_PARAM_LENGTH]))
        .first()
    )
    if pending is None:
        raise LaunchStateInvalid("The EHR's answer does not match any launch started here (unknown `state`).")
    if pending.binding_digest != _digest(_binding(session)):
        raise LaunchStateInvalid("This sign-in was started in another browser session, so it was refused.")
    used = AuthorizationRequest.objects.filter(pk=pending.pk, used_at__isnull=True).update(used_at=timezone.now())
    if used != 1:
        raise LaunchStateInvalid("This sign-in answer was already used once; it cannot be replayed.")
    if timezone.now() - pending.created_at > timedelta(seconds=settings.SMART_STATE_TTL_SECONDS):
        raise LaunchStateInvalid("The sign-in took too long and expired.")
    return pending


def authorization_error_raise(*, error: str, description: str | None) -> None:
    """Turn the EHR's `error` redirect into a clear refusal."""
    message, what_to_do = EHR_ERRORS.get(
        error,
        (
            "The EHR could not authorize the app.",
            "Launch the app again; if it keeps failing, tell your EHR administrator the error code below.",
        ),
    )
    raise AuthorizationDenied(
        message, what_to_do=what_to_do, extra={"error": error[:64], "error_description": (description or "")[:300]}
    )


def launch_complete(*, session: SessionBase, params: dict[str, str]) -> SmartSession:
    """Handle the redirect back from the EHR: state, code exchange, id_token, launch context, stored tokens."""
    if params.get("error"):
        if params.get("state"):
            # Burn the state; the EHR's error is the news, an unknown state changes nothing here.
            with contextlib.suppress(LaunchStateInvalid):
                authorization_request_consume(session=session, state=params["state"])
        authorization_error_raise(error=params["error"], description=params.get("error_description"))
    pending = authorization_request_consume(session=session, state=params.get("state"))
    code = _param(params.get("code"), "code")
    registration = pending.registration
    config = client.discover(registration.iss)
    token = client.token_exchange(
        config=config,
        client_id=registration.client_id,
        confidential=registration.is_confidential,
        code=code,
        code_verifier=decrypt_text(pending.code_verifier_encrypted),
        redirect_uri=redirect_uri(),
    )
    claims = _id_token_claims(config=config, token=token, client_id=registration.client_id, nonce=pending.nonce)
    return smart_session_create(session=session, registration=registration, token=token, claims=claims)


def _id_token_claims(
    *, config: client.SmartConfiguration, token: dict[str, Any], client_id: str, nonce: str
) -> dict[str, Any]:
    id_token = token.get("id_token")
    if not isinstance(id_token, str) or not id_token:
        raise IdTokenInvalid("The EHR did not return an identity token (id_token) although `openid` was asked for.")
    return client.id_token_validate(config=config, id_token=id_token, client_id=client_id, nonce=nonce)


def _expires_at(token: dict[str, Any]) -> Any:
    expires_in = token.get("expires_in")
    seconds = int(expires_in) if isinstance(expires_in, (int, float, str)) and str(expires_in).isdigit() else 300
    return timezone.now() + timedelta(seconds=seconds)


def _string(token: dict[str, Any], name: str, limit: int = 200) -> str:
    value = token.get(name)
    return value[:limit] if isinstance(value, str) else ""


@transaction.atomic
def smart_session_create(
    *, session: SessionBase, registration: EhrRegistration, token: dict[str, Any], claims: dict[str, Any]
) -> SmartSession:
    """Store the tokens (encrypted) and the launch context; bind the result to this browser."""
    patient = _string(token, "patient")
    if not patient:
        raise LaunchInvalid(
            "The EHR launched the app without a patient in context.",
            what_to_do="Open a patient's chart first, then launch the app from it.",
        )
    context = app_context_validate(token.get("appContext"), patient_id=patient)
    style_url = _string(token, "smart_style_url", 500)
    smart = SmartSession.objects.create(
        registration=registration,
        binding_digest=_digest(_binding(session)),
        access_token_encrypted=encrypt_text(token["access_token"]),
        refresh_token_encrypted=encrypt_text(token["refresh_token"]) if token.get("refresh_token") else "",
        id_token_encrypted=encrypt_text(token["id_token"]),
        scope=_string(token, "scope", 2000),
        patient=patient,
        encounter=_string(token, "encounter"),
        fhir_user=str(claims.get("fhirUser") or claims.get("profile") or "")[:500],
        fhir_context=token["fhirContext"] if isinstance(token.get("fhirContext"), list) else [],
        need_patient_banner=token.get("need_patient_banner") is not False,
        smart_style_url=style_url if style_url.startswith(("https://", "http://")) else "",
        tenant=_string(token, "tenant"),
        app_context=context.context,
        app_context_notice=context.notice,
        expires_at=_expires_at(token),
    )
    session[SESSION_SMART_KEY] = str(smart.id)
    return smart


def smart_session_expiry(smart: SmartSession) -> Any:
    """When the browser session of a launch ends: with its access token, or (refreshable) after
    SMART_SESSION_MAX_SECONDS at most; never Django's two-week default."""
    if smart.refresh_token_encrypted:
        return smart.created_at + timedelta(seconds=settings.SMART_SESSION_MAX_SECONDS)
    return smart.expires_at


def launch_session_rotate(*, session: SessionBase, smart: SmartSession) -> None:
    """After a completed launch: a new session id (a planted one is worth nothing) that expires with the launch."""
    session.cycle_key()
    session.set_expiry(smart_session_expiry(smart))


def smart_session_end(*, session: SessionBase) -> SmartSession | None:
    """Sign out: forget the launched session's tokens and empty this browser's sidebar session."""
    smart_id = session.get(SESSION_SMART_KEY)
    smart = SmartSession.objects.select_related("registration").filter(pk=smart_id).first() if smart_id else None
    if smart is not None and smart.binding_digest == _digest(_binding(session)):
        SmartSession.objects.filter(pk=smart.pk).delete()
    else:
        smart = None
    session.flush()
    return smart


def signout_token(session: SessionBase) -> str:
    """The sign-out form's token, bound to this browser's session (the framed sidebar has no CSRF cookie)."""
    return hashlib.sha256(f"signout\x00{_binding(session)}".encode()).hexdigest()


def smart_session_current(*, session: SessionBase) -> SmartSession:
    """The launched session of this browser, or SessionExpired."""
    smart_id = session.get(SESSION_SMART_KEY)
    smart = SmartSession.objects.select_related("registration").filter(pk=smart_id).first() if smart_id else None
    if smart is None or smart.binding_digest != _digest(_binding(session)):
        raise SessionExpired("There is no launched session in this browser (it ended or never started).")
    if not smart.refresh_token_encrypted and smart.expires_at <= timezone.now():
        raise SessionExpired("Your session with the EHR has expired.")
    if not smart.registration.enabled:
        raise SessionExpired("Launches from this EHR have been switched off.")
    return smart


def access_token_fresh(smart: SmartSession) -> str:
    """The access token, refreshed first when it expires within the leeway; SessionExpired if it cannot be."""
    leeway = timedelta(seconds=settings.SMART_REFRESH_LEEWAY_SECONDS)
    if smart.expires_at - timezone.now() > leeway:
        return decrypt_text(smart.access_token_encrypted)
    if not smart.refresh_token_encrypted:
        raise SessionExpired("Your session with the EHR has expired.")
    registration = smart.registration
    token = client.token_refresh(
        config=client.discover(registration.iss),
        client_id=registration.client_id,
        confidential=registration.is_confidential,
        refresh_token=decrypt_text(smart.refresh_token_encrypted),
    )
    smart.access_token_encrypted = encrypt_text(token["access_token"])
    if token.get("refresh_token"):
        smart.refresh_token_encrypted = encrypt_text(token["refresh_token"])
    smart.expires_at = _expires_at(token)
    smart.save(update_fields=["access_token_encrypted", "refresh_token_encrypted", "expires_at", "updated_at"])
    return str(token["access_token"])
