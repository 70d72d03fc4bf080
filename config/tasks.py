"""Project-level Celery tasks: a ping that proves a worker reaches the broker and the database."""
import socket
from typing import Any

from celery import shared_task
from django.contrib.auth import get_user_model
from django.db import connection


@shared_task(name="stratify.ping")
def ping(token: str) -> dict[str, Any]:
    """Echo the token with the worker's host and what it sees in the database."""
    return {
        "token": token,
        "worker": socket.gethostname(),
        "database": connection.vendor,
        "database_name": connection.settings_dict["NAME"],
        "users": get_user_model().objects.count(),
    }
