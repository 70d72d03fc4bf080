"""WSGI entry point; production settings refuse to serve when system checks fail."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

application = get_wsgi_application()

from config.checks import refuse_to_start_on_errors  # noqa: E402

refuse_to_start_on_errors()
