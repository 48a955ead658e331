"""Store: the database contract (SQLite or PostgreSQL), the background writer, sessions, the reader."""
