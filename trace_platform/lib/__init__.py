"""Pure helpers, unit-tested without Dagster."""
