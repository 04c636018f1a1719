"""A tqdm progress bar on stderr, only when stderr is a terminal."""

from __future__ import annotations

import sys
from typing import Any


class Progress:
    def __init__(self, total_bytes: int | None, *, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.rows = 0
        self.bar: Any = None
        if self.enabled:
            from tqdm import tqdm  # only a terminal needs it (~20 ms of import)

            self.bar = tqdm(
                total=total_bytes or None,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                file=sys.stderr,
                dynamic_ncols=True,
                mininterval=0.5,
                desc="loading",
            )

    def update(self, nbytes: int, rows: int) -> None:
        self.rows += rows
        if self.bar is not None:
            rate = self.rows / self.bar.format_dict["elapsed"] if self.bar.format_dict["elapsed"] else 0
            self.bar.set_postfix_str(f"{self.rows:,} rows, {rate:,.0f} rows/s", refresh=False)
            self.bar.update(nbytes)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
