"""Metrics: the one table of metrics and the KPI formulas over day accumulators."""
