"""spm-stream: event-driven sales performance management (core package)."""

__version__ = "0.1.0"
