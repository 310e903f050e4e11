"""Write the docs pages generated from the code: the configuration reference (Settings), the
command line (the Typer app), the API reference (the service's OpenAPI), the notebooks and the
benchmark page (benchmarks/results). They are committed so they read on GitHub too;
`--check` fails when one is out of date, which tests/test_docs.py runs in `make test`.

    .venv/bin/python docs/gen/generate.py [--check]
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1]
#: a setting's environment value must not change a generated page (defaults are documented)
for _name in [n for n in os.environ if n.startswith("OPTICHANNEL_")]:
    del os.environ[_name]
os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")

import page_api  # noqa: E402  (after the environment is cleaned: the service reads settings on import)
import page_benchmarks  # noqa: E402
import page_cli  # noqa: E402
import page_configuration  # noqa: E402
import page_notebooks  # noqa: E402

GENERATORS: list[Callable[[], dict[str, str]]] = [
    page_configuration.pages,
    page_cli.pages,
    page_api.pages,
    page_notebooks.pages,
    page_benchmarks.pages,
]


def generated() -> dict[str, str]:
    """Every generated page's text, by path under docs/."""
    return {path: text for make in GENERATORS for path, text in make().items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a page is stale")
    args = parser.parse_args()
    stale = []
    for path, text in generated().items():
        target = DOCS / path
        if target.exists() and target.read_text() == text:
            continue
        stale.append(path)
        if not args.check:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
    if args.check and stale:
        print("stale generated docs (run `make docs-gen` and commit them): " + ", ".join(stale))
        return 1
    print(("would rewrite: " if args.check else "written: ") + (", ".join(stale) or "nothing, all current"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
