"""`s2dhm demo`, the README's first command, runs end to end (small sizes here; the full demo is the same code)."""
import pytest

from s2dhm_ros.cli import main


@pytest.mark.slow  # renders a street, builds a map and localizes a night drive end to end
def test_demo_runs_and_reports(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "demo"), "--frames", "16", "--size", "320x240"]) == 0
    out = capsys.readouterr().out
    assert "localized" in out and "error m" in out
    for path in ("map/map.yaml", "night/results.json", "night/report.md", "night/trajectory.tum"):
        assert (tmp_path / "demo" / path).is_file(), path
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 2  # refuses to overwrite a previous run
