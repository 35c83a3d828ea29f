"""Data: loading, column roles, validation, target transform, synthetic worlds."""

from embaudit.data.table import AttributeColumn, Table, load_table

__all__ = ["AttributeColumn", "Table", "load_table"]
