"""The `spm-stream` command line.

Every command reads the same validated settings (``SPM_*`` variables and the
YAML file in ``SPM_CONFIG``) and fails at once with the bad key named. One module
per command group; each adds its commands to the root group in ``app``.
"""

from spm_stream.cli import contests, devtools, events, reports, service, slack, tv
from spm_stream.cli.app import cli

__all__ = ["cli", "main"]

_COMMAND_GROUPS = (contests, devtools, events, reports, service, slack, tv)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="spm-stream")
