"""Background jobs a scheduler (cron, systemd timer) or the app can start: replenishment runs and the
notification sender. Each composes ``data_access`` and ``analytics``; ``python -m jobs --help``."""
