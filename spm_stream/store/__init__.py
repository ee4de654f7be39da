"""The Redis store: key layout, the atomic Lua batch apply, and an in-memory twin for unit tests."""
