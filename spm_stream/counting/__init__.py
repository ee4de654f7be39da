"""Counting: what each event contributes, the plan of increments, and the batch ingest."""
