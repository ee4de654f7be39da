"""The event contract: the canonical CRM event, its JSON Schema and the currencies it names."""
