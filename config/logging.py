"""Logging helpers: a filter that stamps every record with the current request id."""

import logging

from config.request_context import current_request_id


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to each record so the JSON formatter can emit it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        return True
