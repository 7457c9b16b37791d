"""Reporting: result rows as keyed CSVs with provenance, one renderer of tables, and the Markdown report with its
plots."""
