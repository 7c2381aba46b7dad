"""The indexer: sources → normalized text → metadata → passages → vectors → the index directory."""
