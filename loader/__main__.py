"""``python -m loader`` and the ``loader`` command."""

import os
import sys


def main() -> int:
    # Arrow fixes its default memory pool when pyarrow starts, so the choice is
    # made here, before anything imports it: jemalloc returns freed memory to the
    # OS where mimalloc kept it (bench CSV -> SQLite peak RSS 113-116 MB instead
    # of 126 MB when the pool was switched later). A user's own choice wins.
    if sys.platform.startswith("linux"):
        os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")
    from .cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
