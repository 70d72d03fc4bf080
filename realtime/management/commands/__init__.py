"""`manage.py realtime_consume`."""
