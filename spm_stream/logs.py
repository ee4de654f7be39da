"""Logging set-up: human-readable lines, or one JSON object per line for log shippers."""

from __future__ import annotations

import logging.config
from typing import Any

__all__ = ["configure_logging", "logging_config"]

_LEVELS = {"debug": "DEBUG", "info": "INFO", "warn": "WARNING", "error": "ERROR"}


def logging_config(level: str, fmt: str) -> dict[str, Any]:
    """A dictConfig for the given level (debug|info|warn|error) and format (text|json)."""
    formatter: dict[str, Any]
    if fmt == "json":
        formatter = {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
    else:
        formatter = {"format": "%(asctime)s %(levelname)-7s %(name)s: %(message)s"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"main": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "main",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": _LEVELS[level], "handlers": ["stderr"]},
    }


def configure_logging(level: str = "info", fmt: str = "text") -> None:
    """Apply ``logging_config`` to this process."""
    logging.config.dictConfig(logging_config(level, fmt))
