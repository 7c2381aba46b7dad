"""The embedding model, used alike by the indexer and the service: specs and prompts, the bundled
model's conversion, the runtime backends and the SentenceTransformer wrapper."""
