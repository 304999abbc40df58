"""Evaluation beside the product: benchmarks and their statistics. May import the core; the core never imports
this package (an import-linter layers contract keeps it so)."""
