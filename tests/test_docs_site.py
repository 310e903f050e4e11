"""The docs site builds with `mkdocs build --strict` (a broken link, a missing anchor or a page left
out of the navigation fails), every page is within two clicks of the README, and the examples the
pages show are valid input for what they document."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from collections import deque
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
LINK = re.compile(r"\]\(([^)#\s]+\.md)(?:#[^)\s]*)?\)")
LAYERS = "`pipeline -> training | serving | experiments -> decision -> features | simulator -> optichannel`"


def _blocks(page: Path, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", page.read_text(), flags=re.S)


def test_site_builds_strict(tmp_path: Path) -> None:
    mkdocs = Path(sys.executable).with_name("mkdocs")
    env = os.environ | {"NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "site" / "crm" / "api" / "index.html").exists()


def test_every_page_is_within_two_clicks_of_the_readme() -> None:
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md") if "gen" not in p.parts}
    readme = (ROOT / "README.md").read_text()
    first = {Path(m).relative_to("docs").as_posix() for m in LINK.findall(readme) if m.startswith("docs/")}
    seen, queue = set(first), deque((page, 1) for page in first)
    while queue:
        page, clicks = queue.popleft()
        if clicks == 2 or page not in pages:
            continue
        for target in LINK.findall((DOCS / page).read_text()):
            resolved = os.path.normpath((Path(page).parent / target).as_posix())
            if resolved not in seen:
                seen.add(resolved)
                queue.append((resolved, clicks + 1))
    assert not pages - seen, f"pages more than two clicks from the README: {sorted(pages - seen)}"


def test_readme_is_a_front_door() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    assert LAYERS in readme, "the README's layout must draw the layers as DESIGN.md section 1 does"
    for page in ("crm/index.md", "data-scientist/index.md", "marketer/index.md", "operator/index.md"):
        assert f"](docs/{page})" in readme, f"no door from the README to docs/{page}"


def test_api_examples_are_valid_requests() -> None:
    """Every body the API reference shows validates against the service's own schema."""
    spec = json.loads((DOCS / "crm" / "openapi.json").read_text())
    page = (DOCS / "crm" / "api.md").read_text()
    sections = re.split(r"^## POST (\S+)\n", page, flags=re.M)[1:]
    checked = 0
    for path, text in zip(sections[::2], sections[1::2], strict=True):
        schema = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        for body in re.findall(r"-d '(.*?)'\n", text):
            jsonschema.validate(json.loads(body), {**schema, "components": spec["components"]})
            checked += 1
    assert checked == 3


def test_crm_guide_has_the_examples_the_service_test_runs() -> None:
    """tests/integration/test_service_http.py runs these against a live service; here, cheaply,
    that each is there once and the Python parses."""
    page = DOCS / "crm" / "index.md"
    (python,) = [b for b in _blocks(page, "python") if "/predict" in b]
    (curl,) = [b for b in _blocks(page, "bash") if "curl" in b]
    compile(python, str(page), "exec")
    assert '"C0000042"' in python and "http://127.0.0.1:3000/predict" in curl


def test_yaml_examples_are_valid_configs(tmp_path: Path) -> None:
    from optichannel.campaign_plan import load_plan
    from simulator.world import WorldConfig

    (world,) = _blocks(DOCS / "data-scientist" / "simulated-bank.md", "yaml")
    WorldConfig.model_validate(yaml.safe_load(world))
    (plan,) = _blocks(DOCS / "marketer" / "campaign-plan.md", "yaml")
    (tmp_path / "spring.yaml").write_text(plan)
    assert load_plan(tmp_path / "spring.yaml").budget == 300


@pytest.fixture()
def results_file():
    spec = importlib.util.spec_from_file_location("results_file", ROOT / "benchmarks" / "results_file.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_a_results_file_says_when_where_and_how(results_file, tmp_path: Path) -> None:
    import numpy as np

    path = results_file.write_result("probe", {"rows": {"seconds": np.float64(1.5)}}, directory=tmp_path)
    record = json.loads(path.read_text())
    assert record["figures"] == {"rows": {"seconds": 1.5}}
    assert record["machine"]["cores"] and record["machine"]["cpu"]
    assert record["date"] and record["command"]
