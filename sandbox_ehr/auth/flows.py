"""The SMART App Launch authorization-code flow: validate an authorize request, issue the code.

SMART App Launch 2.x "App Launch: Launch and Authorization"
(https://hl7.org/fhir/smart-app-launch/app-launch.html): PKCE S256 is required, `state` is required,
`aud` must be this FHIR server's base URL, and the `launch` of an EHR launch is resolved here.
Errors about the client or its redirect URI are shown as a page (never redirected to an unverified
URI, RFC 6749 §4.1.2.1); every other error is redirected to the client with `error` and `state`.
"""

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from urllib.parse import urlencode

from django.core import signing

from config.errors import ValidationFailed
from sandbox_ehr.auth import endpoints
from sandbox_ehr.auth.errors import AuthorizeRedirectError
from sandbox_ehr.auth.models import ClientProfile
from sandbox_ehr.auth.scopes import resource_scope_parse, scope_intersect
from sandbox_ehr.auth.selectors import client_get, patient_get
from sandbox_ehr.auth.services import TokenContext, code_create, launch_consume

# RFC 7636 §4.2: BASE64URL(SHA256(verifier)) is exactly 43 characters.
_S256_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")
_PICKER_SALT = "sandbox_auth.patient_picker"


@dataclass(frozen=True)
class AuthorizeRequest:
    """A validated authorize request (scope already narrowed to what the client may have)."""

    client_id: str
    redirect_uri: str
    scope: str
    state: str
    code_challenge: str
    nonce: str
    launch: str

    @property
    def needs_patient(self) -> bool:
        """True when the granted scopes need a patient in context."""
        scopes = self.scope.split()
        return "launch/patient" in scopes or any(
            (p := resource_scope_parse(s)) is not None and p.context == "patient" for s in scopes
        )

    def sign(self) -> str:
        """A tamper-proof copy for the patient picker form."""
        return signing.dumps(asdict(self), salt=_PICKER_SALT)

    @classmethod
    def unsign(cls, value: str) -> "AuthorizeRequest":
        """Inverse of `sign`, valid for 10 minutes."""
        try:
            return cls(**signing.loads(value, salt=_PICKER_SALT, max_age=600))
        except (signing.BadSignature, TypeError) as exc:
            raise ValidationFailed(
                "The patient selection form is invalid or has expired; start the launch again."
            ) from exc


def _client_and_redirect(params: Mapping[str, str]) -> tuple[ClientProfile, str]:
    client_id, redirect_uri = params.get("client_id", ""), params.get("redirect_uri", "")
    app = client_get(client_id) if client_id else None
    profile = getattr(app, "smart_profile", None) if app else None
    if app is None or profile is None:
        raise ValidationFailed(
            "Unknown client_id: this application is not registered with the sandbox EHR.",
            extra={"what_to_do": "Run `manage.py sandbox_setup` or register the client."},
        )
    if not redirect_uri or redirect_uri not in app.redirect_uris.split():
        raise ValidationFailed(
            "The redirect_uri is not registered for this client.",
            extra={"hint": "The sandbox only redirects to exactly registered URIs."},
        )
    return profile, redirect_uri


def authorize_validate(params: Mapping[str, str]) -> AuthorizeRequest:
    """Check an authorize request; ValidationFailed (page) or AuthorizeRedirectError (redirect)."""
    profile, redirect_uri = _client_and_redirect(params)
    state = params.get("state", "")

    def fail(message: str, code: str = "invalid_request") -> AuthorizeRedirectError:
        return AuthorizeRedirectError(message, redirect_uri=redirect_uri, state=state, code=code)

    if params.get("response_type") != "code":
        raise fail("response_type must be 'code'.", "unsupported_response_type")
    if not state:
        raise fail("The state parameter is required.")
    if params.get("aud", "").rstrip("/") != endpoints.fhir_base():
        raise fail(f"aud must be the FHIR base URL {endpoints.fhir_base()}.")
    if params.get("code_challenge_method") != "S256":
        raise fail("PKCE is required: code_challenge_method must be S256.")
    if not _S256_CHALLENGE.match(params.get("code_challenge", "")):
        raise fail("PKCE is required: code_challenge must be a 43-character base64url S256 challenge.")
    scope = scope_intersect(params.get("scope", ""), profile.allowed_scope)
    if not scope:
        raise fail("None of the requested scopes can be granted to this client.", "invalid_scope")
    return AuthorizeRequest(
        client_id=profile.application.client_id,
        redirect_uri=redirect_uri,
        scope=" ".join(scope),
        state=state,
        code_challenge=params["code_challenge"],
        nonce=params.get("nonce", "")[:255],
        launch=params.get("launch", ""),
    )


def launch_context(req: AuthorizeRequest) -> TokenContext | None:
    """The context of an EHR launch (consumes the launch value); None for a standalone launch."""
    if not req.launch:
        return None
    launch = launch_consume(req.launch)
    if launch is None:
        raise AuthorizeRedirectError(
            "The launch value is unknown, expired or already used.", redirect_uri=req.redirect_uri, state=req.state
        )
    return TokenContext(
        patient_id=launch.patient_id,
        encounter_id=launch.encounter_id,
        fhir_user=endpoints.practitioner_url(),
        app_context=launch.app_context,
        need_patient_banner=False,
    )


def standalone_context(req: AuthorizeRequest, patient_id: str | None) -> TokenContext:
    """Context of a standalone launch, with the patient chosen in the picker (if one was needed)."""
    if patient_id and patient_get(patient_id) is None:
        raise ValidationFailed("The chosen patient does not exist in the sandbox FHIR store.")
    return TokenContext(patient_id=patient_id or "", fhir_user=endpoints.practitioner_url(), need_patient_banner=True)


def authorize_approve(req: AuthorizeRequest, context: TokenContext) -> str:
    """Issue the code and return the redirect URL to the client (consent auto-approved in the sandbox)."""
    code = code_create(
        client_id=req.client_id,
        redirect_uri=req.redirect_uri,
        scope=req.scope,
        code_challenge=req.code_challenge,
        nonce=req.nonce,
        context=context,
    )
    return redirect_with(req.redirect_uri, {"code": code, "state": req.state})


def redirect_with(uri: str, params: Mapping[str, str]) -> str:
    """The redirect URI with query parameters appended."""
    query = urlencode({k: v for k, v in params.items() if v})
    return f"{uri}{'&' if '?' in uri else '?'}{query}"
