"""``python -m dimse <tool> [options]``: the same tools as the console scripts."""

from __future__ import annotations

import importlib
import sys

TOOLS = {
    "echoscu": "dimse.tools.echoscu",
    "storescp": "dimse.tools.storescp",
    "storescu": "dimse.tools.storescu",
    "movescu": "dimse.tools.movescu",
    "findscu": "dimse.tools.findscu",
    "getscu": "dimse.tools.getscu",
    "demo": "dimse.tools.demo",
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in TOOLS:
        names = ", ".join(TOOLS)
        print(f"usage: python -m dimse <tool> [options]\ntools: {names}", file=sys.stderr)
        return 1
    module = importlib.import_module(TOOLS[argv[0]])
    return module.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
