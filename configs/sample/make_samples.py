"""Regenerate the bundled sample files (deterministic): python configs/sample/make_samples.py"""

from __future__ import annotations

import csv
import datetime as dt
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).parent
COUNTRIES = ["NO", "SE", "DK", "FI", "DE", "FR"]
EVENTS = ["view", "click", "purchase", "signup"]
NOTES = ["", "first visit", "paid, with coupon", 'said "hi"', "Ærøskøbing", "naïve café", "multi\nline"]


def main() -> None:
    rng = random.Random(7)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with open(HERE / "events.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["id", "user_id", "zip", "country", "event", "amount", "created_at", "note"])
        for i in range(1, 1001):
            ts = start + dt.timedelta(seconds=rng.randrange(0, 90 * 86400))
            amount = f"{rng.randrange(0, 100000) / 100:.2f}" if rng.random() < 0.9 else ""
            w.writerow(
                [
                    i,
                    rng.randrange(1, 200),
                    f"{rng.randrange(0, 10000):04d}",
                    rng.choice(COUNTRIES),
                    rng.choice(EVENTS),
                    amount,
                    ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    rng.choice(NOTES),
                ]
            )
    n = 500
    users = pa.table(
        {
            "id": pa.array(range(1, n + 1), pa.int64()),
            "name": [f"user{i:03d}" for i in range(1, n + 1)],
            "email": [f"user{i:03d}@example.org" for i in range(1, n + 1)],
            "signup_date": pa.array([dt.date(2025, 1, 1) + dt.timedelta(days=i % 365) for i in range(n)], pa.date32()),
            "score": pa.array([round(rng.random() * 100, 3) for _ in range(n)], pa.float64()),
            "active": [i % 3 != 0 for i in range(n)],
            "tags": [["a", "b"][: i % 3] for i in range(n)],
        }
    )
    pq.write_table(users, HERE / "users.parquet", row_group_size=200)


if __name__ == "__main__":
    main()
