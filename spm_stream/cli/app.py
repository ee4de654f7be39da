"""The root `spm-stream` group; each module of this package adds its commands to it."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="spm-stream")
def cli() -> None:
    """spm-stream: CRM events from Kafka → KPIs, leaderboards and Slack nudges.

    Configuration comes from SPM_* environment variables (SPM_KAFKA_URL,
    SPM_REDIS_URL, SPM_SLACK_TOKEN, SPM_SLACK_BASE_URL, SPM_CONFIG, …); see the
    README. Start with `spm-stream demo`, which needs none of them.
    """
