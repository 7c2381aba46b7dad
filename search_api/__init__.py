"""Query side: retrieval over an index, citations, and the HTTP service."""
