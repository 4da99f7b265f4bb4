"""Blinded studies: readers, cases, their order and the judgments given."""
