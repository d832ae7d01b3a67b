"""The study folder: layout, atomic writes, the journal, trial records, CSV exports (owns all writes)."""
