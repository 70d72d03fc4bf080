"""Security settings shared by every mode: outbound address policy, the sidebar's own session cookie, CSP."""

from config.env import env

# Base URLs we may reach even on a non-public address (loopback, private, link-local), besides the ones
# registered in the database (EHR registrations, trusted CDS clients' FHIR servers and JWKS URLs).
OUTBOUND_ALLOWED_BASES = env.list("OUTBOUND_ALLOWED_BASES", default=[])

# The sidebar's own session cookie (config.sessions): the EHR frames the sidebar cross-site, so in
# production it is SameSite=None; Secure, while admin's cookie (SESSION_COOKIE_*) stays SameSite=Lax.
SIDEBAR_SESSION_COOKIE_NAME = "stratify_sidebar_session"
SIDEBAR_SESSION_COOKIE_PATH = "/smart/"
SIDEBAR_SESSION_COOKIE_SAMESITE = env.str("SIDEBAR_SESSION_COOKIE_SAMESITE", default="Lax")
SIDEBAR_SESSION_COOKIE_SECURE = env.bool("SIDEBAR_SESSION_COOKIE_SECURE", default=False)
# A launched sidebar session with a refresh token lasts at most this long (seconds); without one it ends
# when its access token expires (never Django's two-week default).
SMART_SESSION_MAX_SECONDS = env.int("SMART_SESSION_MAX_SECONDS", default=12 * 3600)

# One Content-Security-Policy for every HTML page that sets none of its own (config.middleware); the
# sidebar and the launch pages add their nonce and frame-ancestors (smart_launch.framing).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
)
