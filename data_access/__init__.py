"""The only layer that speaks SQL: schema, engine, read queries and write commands."""
