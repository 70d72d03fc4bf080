"""The audit trail: one append-only, hash-chained record per inference, view, write-back and admin change."""
