"""Hypotheses: discovery, statistical tests, multiplicity, verdicts."""
