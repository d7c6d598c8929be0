"""Developer tooling: local MongoDB, the run orchestrator, benchmarks and reports."""
