"""The HTML report: one self-contained file with the headline, the arms and inlined charts."""

from __future__ import annotations

import base64
import dataclasses
import html
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments.analysis import Analysis, analyze, qini_for
from experiments.design import sample_size
from experiments.report import render_report

DATA_URI = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=]+)")
SHARES = {"model": 0.45, "bau": 0.45, "holdout": 0.10}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    n = 20_000
    arm = rng.choice(list(SHARES), n, p=list(SHARES.values()))
    score = rng.normal(size=n)
    p = pd.Series(arm).map({"model": 0.04, "bau": 0.03, "holdout": 0.025}).to_numpy() + 0.01 * (score > 0)
    channel = np.where(arm == "holdout", "none", rng.choice(["email", "push", "call"], n))
    return pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "arm": arm,
            "converted": (rng.random(n) < p).astype(int),
            "channel": channel,
            "cost": pd.Series(channel).map({"email": 0.005, "push": 0.001, "call": 1.5, "none": 0.0}),
            "segment": rng.choice(["<30", "30-60", "60+"], n),
            "score": score,
        }
    )


@pytest.fixture(scope="module")
def analysis(frame: pd.DataFrame) -> Analysis:
    return analyze(frame, "bau", planned_shares=SHARES)


@pytest.fixture(scope="module")
def full_report(frame: pd.DataFrame, analysis: Analysis, tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("report") / "nested" / "experiment.html"
    path = render_report(
        analysis,
        out,
        title="Spring <campaign>",
        design=sample_size(0.03, 0.01, SHARES, "bau"),
        qini=qini_for(frame, "model", "bau"),
        # the model's truth sits at its estimate (covered), the holdout's far away (missed)
        truth={"model": float(analysis.comparisons.loc["model", "uplift_abs"]), "holdout": 0.05},
    )
    assert path == out and path.is_file()
    return path.read_text(encoding="utf-8")


def test_no_links_or_external_resources(full_report: str) -> None:
    # image bytes are base64 and could spell "http" by chance; everything else must not mention it
    text = DATA_URI.sub("", full_report)
    assert "http" not in text.lower()
    assert "<script" not in text and "<link" not in text and "@import" not in text


def test_headline_arms_and_title_are_shown(full_report: str, analysis: Analysis) -> None:
    assert html.escape(analysis.headline["text"]) in full_report
    for arm in SHARES:
        assert f"<td>{arm}" in full_report
    assert "Spring &lt;campaign&gt;" in full_report  # escaped, not injected


def test_images_are_embedded_pngs(full_report: str) -> None:
    sources = re.findall(r'<img[^>]*src="([^"]+)"', full_report)
    assert len(sources) == 5  # rates, uplift, channels, segments, Qini
    for src in sources:
        match = DATA_URI.fullmatch(src)
        assert match, src[:40]
        assert base64.b64decode(match.group(1))[:8] == b"\x89PNG\r\n\x1a\n"


def test_sections_follow_the_inputs(full_report: str, analysis: Analysis, tmp_path: Path) -> None:
    for section in ("Truth check", "Qini curve", "Channels used", "Segments", "sample-ratio mismatch"):
        assert section in full_report
    assert "customers planned" in full_report
    minimal = render_report(analysis, tmp_path / "plain.html").read_text(encoding="utf-8")
    assert "Truth check" not in minimal and "Qini curve" not in minimal
    assert "No design given" in minimal
    assert len(re.findall(r"<img ", minimal)) == 4


def test_truth_panel_reports_coverage(full_report: str) -> None:
    panel = full_report[full_report.index("Truth check") : full_report.index("Channels used")]
    assert re.search(r"<td>model</td>.*?>yes</td>", panel, flags=re.S)
    assert re.search(r"<td>holdout</td>.*?<td>\+5\.00</td>.*?>NO</td>", panel, flags=re.S)


def _chromium() -> str | None:
    names = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
    return next((path for path in map(shutil.which, names) if path), None)


def test_report_renders_in_headless_chromium(frame: pd.DataFrame, analysis: Analysis, tmp_path: Path) -> None:
    """What a marketer sees: the page renders offline, text and the embedded charts on screen."""
    from matplotlib.image import imread

    browser = _chromium()
    if browser is None:
        pytest.skip("no chromium or chromium-browser binary on PATH (apt-get install chromium)")
    page = render_report(analysis, tmp_path / "report.html", qini=qini_for(frame, "model", "bau"))
    shot = tmp_path / "report.png"
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--window-size=1000,2400", f"--screenshot={shot}", page.resolve().as_uri()]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert shot.is_file(), done.stderr[-2000:]
    image = imread(shot)[..., :3]
    assert image.shape[:2] == (2400, 1000)
    assert (image < 0.9).any(axis=2).mean() > 0.02  # not a blank page
    # the charts' blue bars are on screen: the embedded PNGs were decoded and laid out
    blue = np.abs(image - np.array([0x1F, 0x5F, 0xA8]) / 255).max(axis=2) < 0.03
    assert blue.sum() > 2000


def test_zero_success_arm_draws_its_rate_chart(tmp_path: Path) -> None:
    """0/1,000 against ~10%: Wilson's lower bound at 0/n is a float above 0; no error bar may go negative."""
    n = 1000
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(2 * n),
            "arm": ["offer"] * n + ["bau"] * n,
            "converted": np.r_[np.zeros(n, dtype=int), (np.arange(n) % 10 == 0).astype(int)],
        }
    )
    result = analyze(frame, "bau")
    assert result.arms.loc["offer", "rate_lo"] == 0.0 <= result.arms.loc["offer", "rate_hi"]
    assert render_report(result, tmp_path / "zero.html", title="zero arm").is_file()


def test_rate_chart_clips_an_interval_that_misses_its_estimate(analysis: Analysis, tmp_path: Path) -> None:
    """Whatever produced the interval (an export's own bounds, rounding), the chart draws, bars at >= 0."""
    arms = analysis.arms.copy()
    arms["rate_lo"] = arms["rate"] + 1e-12
    arms["rate_hi"] = arms["rate"] - 1e-12
    shifted = dataclasses.replace(analysis, arms=arms)
    page = render_report(shifted, tmp_path / "shifted.html", title="shifted").read_text(encoding="utf-8")
    assert len(DATA_URI.findall(page)) >= 2
