"""A small org for pure tests: a manager in Shanghai (zh), a rep in Berlin (de) with a
Slack id, a rep without one."""

from __future__ import annotations

from spm_stream.config.directory import Directory

EMEA = Directory.model_validate(
    {
        "timezone": "Europe/Berlin",
        "teams": {"emea": {"manager": "mgr-1"}},
        "people": {
            "mgr-1": {
                "name": "Mia",
                "slack_id": "U0MGR",
                "timezone": "Asia/Shanghai",
                "locale": "zh",
            },
            "rep-1": {"name": "Ana", "slack_id": "U0ANA", "team": "emea", "locale": "de"},
            "rep-2": {"name": "Ben", "team": "emea"},
        },
        "alerts": {"big_deal": {"EUR": 50000}},
    }
)
