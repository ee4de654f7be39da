"""Developer tools, not runtime code: embedded services, demo, benchmark, generator, local Slack."""
