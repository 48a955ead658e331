"""Store: the database contract on SQLite or PostgreSQL, the writer, sessions, the reader."""
