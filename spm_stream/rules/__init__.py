"""Rules: alert rules, no-show escalation, pacing, nudges and the rules engine."""
