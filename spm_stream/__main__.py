"""`python -m spm_stream` is the `spm-stream` command."""

from spm_stream.cli import main

main()
