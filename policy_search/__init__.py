"""The ``policy-search`` command: indexing, search, serving, evaluation and benchmarks."""
