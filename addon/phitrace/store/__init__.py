"""Store: the database contract, the background writer, sessions and the findings reader."""
