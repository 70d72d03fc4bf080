"""Errors of the FHIR Subscriptions door; `config.api_errors` maps each to its HTTP status (the one mapping)."""

from config.errors import AuthenticationFailed, NotFound, PermissionDenied, ValidationFailed


class NotificationInvalid(ValidationFailed):
    """The body is not a notification Bundle of the Subscriptions R5 Backport IG (400)."""

    code = "notification_invalid"
    default_message = "The body is not a subscription notification Bundle."


class NotificationUnauthenticated(AuthenticationFailed):
    """The channel secret is missing or wrong (401)."""

    code = "notification_unauthenticated"
    default_message = "The notification does not carry this subscription's secret."


class NotificationMismatch(PermissionDenied):
    """The notification names another subscription or topic than the one this endpoint is for (403)."""

    code = "notification_mismatch"
    default_message = "The notification is not for this subscription."


class SubscriptionNotFound(NotFound):
    """No subscription of ours has this notification endpoint (404)."""

    code = "subscription_not_found"
    default_message = "No subscription has this notification endpoint."
