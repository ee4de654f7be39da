"""Slack notifications: templates, delivery and the local Slack-compatible server."""
