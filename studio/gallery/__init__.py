"""Gallery history: the SQLite store, image files, export and import. No Qt."""
