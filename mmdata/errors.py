"""The project's single error type.

Every user-facing failure (bad input files, bad configs, unknown names) raises :class:`MmdataError`.
Its string form is one line naming the file, the record and the field when they are known::

    vqav2/annotations.json: record question_id=42: field 'answers': expected a list, got str

The CLI prints that line and exits non-zero; nothing else is shown unless ``MMDATA_DEBUG=1``.
"""

from __future__ import annotations

from pathlib import Path


def _flat(value) -> str:
    """One line: newlines and runs of whitespace in any part become single spaces."""
    return " ".join(str(value).split())


class MmdataError(Exception):
    """A clear, user-facing error. ``str(err)`` is a single line."""

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        record: str | int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = _flat(message)
        self.file = _flat(file) if file is not None else None
        self.record = _flat(record) if record is not None else None
        self.field = _flat(field) if field is not None else None
        super().__init__(self.__str__())

    def __str__(self) -> str:
        parts = []
        if self.file:
            parts.append(self.file)
        if self.record is not None:
            parts.append(f"record {self.record}")
        if self.field:
            parts.append(f"field '{self.field}'")
        parts.append(self.message)
        return ": ".join(parts)
