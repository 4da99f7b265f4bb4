"""The ECG pool: real and synthetic records, their import, generation and rendering."""
