"""`s2dhm build-map` and `s2dhm leave-one-out` on real files: PNG images, poses and intrinsics text files."""
import json

import cv2
import numpy as np
import pytest

from s2dhm_ros.cli import main
from s2dhm_ros.map_format import SparseMap


def write_posed_folder(frames, root):
    (root / "images").mkdir(parents=True)
    with open(root / "poses.txt", "w") as poses:
        poses.write("# NAME QW QX QY QZ TX TY TZ\n")
        for f in frames:
            cv2.imwrite(str(root / "images" / f.name), cv2.cvtColor(f.load(), cv2.COLOR_RGB2BGR))
            pose = f.cam_from_world
            poses.write(" ".join([f.name, *(f"{v:.17g}" for v in (*pose.qvec, *pose.t))]) + "\n")
    c = frames[0].camera
    params = " ".join(f"{p:.17g}" for p in c.params)
    (root / "cameras.txt").write_text(f"{c.model} {c.width} {c.height} {params}\n")


def test_build_map_from_image_folder(street, tmp_path, capsys):
    frames, _ = street
    write_posed_folder(frames, tmp_path)
    rc = main(["build-map", "--images", str(tmp_path / "images"), "--poses", str(tmp_path / "poses.txt"),
               "--intrinsics", str(tmp_path / "cameras.txt"), "--out", str(tmp_path / "map")])
    assert rc == 0
    assert "3D points" in capsys.readouterr().out
    m = SparseMap.load(tmp_path / "map")
    assert m.reference_names == [f.name for f in frames]
    np.testing.assert_allclose(m.cam_from_world[3].R, frames[3].cam_from_world.R, atol=1e-9)
    assert m.metadata["source"]["images"].endswith("images")


def test_build_map_errors_are_clear(tmp_path, capsys):
    assert main(["build-map", "--out", str(tmp_path / "map")]) == 2
    assert "give a source" in capsys.readouterr().err
    (tmp_path / "poses.txt").write_text("a.png 1 0 0\n")
    (tmp_path / "cameras.txt").write_text("PINHOLE 10 10 5 5 5 5\n")
    assert main(["build-map", "--images", str(tmp_path), "--poses", str(tmp_path / "poses.txt"),
                 "--intrinsics", str(tmp_path / "cameras.txt"), "--out", str(tmp_path / "map")]) == 2
    assert "NAME QW QX QY QZ TX TY TZ" in capsys.readouterr().err
    assert not (tmp_path / "map").exists()


@pytest.mark.parametrize("missing", ["--bag", "--strecha"])
def test_missing_inputs(tmp_path, capsys, missing):
    assert main(["build-map", missing, str(tmp_path / "nope"), "--out", str(tmp_path / "map")]) == 2
    assert "nope" in capsys.readouterr().err


def test_leave_one_out_json_is_strict_json(tmp_path, monkeypatch, capsys):
    """A view that was not localized has an infinite error; the JSON file says null (JSON has no Infinity)."""
    from s2dhm_ros.cli import evaluate_commands
    from s2dhm_ros.evaluation.leave_one_out import QueryOutcome
    outcomes = [QueryOutcome("0000.png", "day", "sparse_to_dense", True, 0.1, 1.0, 50, {"total": 1.0}),
                QueryOutcome("0001.png", "day", "sparse_to_dense", False, np.inf, np.inf, 0, {"total": 1.0})]
    monkeypatch.setattr(evaluate_commands, "leave_one_out", lambda scene, config: outcomes)
    (tmp_path / "scene").mkdir()
    assert main(["leave-one-out", str(tmp_path / "scene"), "--json", str(tmp_path / "out.json")]) == 0
    assert "50.0%" in capsys.readouterr().out

    def no_constants(name):
        raise AssertionError(f"{name} is not JSON")
    written = json.loads((tmp_path / "out.json").read_text(), parse_constant=no_constants)
    assert [(o["success"], o["error_m"], o["error_deg"]) for o in written["scene"]] == [(True, 0.1, 1.0),
                                                                                       (False, None, None)]
