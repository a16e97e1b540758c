"""Errors written for the analyst: what is wrong, where (file, row, column, value), what to do."""

from __future__ import annotations


class InputError(Exception):
    """A raw file, codebook or config that the pipeline cannot use as it is.

    The message is one paragraph naming the file and, where they are known, the row, the
    column, the offending value and what was expected. Workflow scripts catch it, print the
    message without a traceback and exit non-zero.
    """

    def __init__(
        self,
        problem: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
        value: object = None,
        expected: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.problem = problem
        self.file = file
        self.row = row
        self.column = column
        self.value = value
        self.expected = expected
        self.hint = hint
        super().__init__(self.message)

    @property
    def message(self) -> str:
        where = []
        if self.file is not None:
            where.append(f"file {self.file}")
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        text = self.problem
        if where:
            text = f"{', '.join(where)}: {text}"
        if self.value is not None:
            text += f" (found {self.value!r})"
        if self.expected:
            text += f"; expected {self.expected}"
        if self.hint:
            text += f". {self.hint}"
        return text
