"""Weights download: verification and atomic install from a local file (file:// URL and --from-file), a wrong
checksum, a file that is not weights, and the message when there is no network."""
import argparse
import dataclasses
import hashlib
import subprocess

import pytest
import torch

from s2dhm_ros.cli import benchmark_commands
from s2dhm_ros.weights_download import CHECKPOINTS, DownloadError, commands, download, install


@pytest.fixture
def weights_file(tmp_path):
    path = tmp_path / "downloaded" / "superpoint_v1.pth"
    path.parent.mkdir()
    torch.save({"conv1a.weight": torch.zeros(2, 1, 3, 3)}, path)
    return path


UNKNOWN = "s2dhm-cmu"  # a checkpoint whose published sum we do not know: installs record theirs


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cli(argv):
    parser = argparse.ArgumentParser()
    benchmark_commands.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_table_lists_the_published_checkpoints():
    assert set(CHECKPOINTS) == {"s2dhm-robotcar", "s2dhm-cmu", "netvlad-pitts30k", "superpoint"}
    assert CHECKPOINTS["netvlad-pitts30k"].url.endswith("/Pitts30K_struct.mat")
    assert CHECKPOINTS["superpoint"].url.endswith("/superpoint_v1.pth")
    assert all(c.url.startswith("https://") for c in CHECKPOINTS.values())


def test_file_url_download_with_known_checksum(tmp_path, weights_file):
    checkpoint = dataclasses.replace(CHECKPOINTS["superpoint"], sha256=_sha(weights_file))
    path = download(checkpoint, tmp_path / "weights", url=weights_file.as_uri())
    assert path == tmp_path / "weights" / "superpoint_v1.pth"
    assert path.read_bytes() == weights_file.read_bytes()
    assert (tmp_path / "weights" / "superpoint_v1.pth.sha256").read_text().split()[0] == _sha(weights_file)
    assert sorted(p.name for p in (tmp_path / "weights").iterdir()) == ["superpoint_v1.pth", "superpoint_v1.pth.sha256"]


def test_wrong_checksum_installs_nothing(tmp_path, weights_file):
    checkpoint = dataclasses.replace(CHECKPOINTS["superpoint"], sha256="0" * 64)
    with pytest.raises(DownloadError, match="checksum mismatch"):
        download(checkpoint, tmp_path / "weights", url=weights_file.as_uri())
    assert list((tmp_path / "weights").iterdir()) == []  # neither the file nor the temporary download


def test_from_file_records_then_enforces_the_sum(tmp_path, weights_file, capsys):
    dest = tmp_path / "weights"
    assert _cli(["download-weights", UNKNOWN, "--from-file", str(weights_file), "--dir", str(dest)]) == 0
    assert f"sha256 {_sha(weights_file)} recorded" in capsys.readouterr().out
    # a different file under the same name no longer matches the recorded sum
    other = tmp_path / "other.pth"
    torch.save({"conv1a.weight": torch.ones(2, 1, 3, 3)}, other)
    with pytest.raises(DownloadError, match="checksum mismatch"):
        install(other, CHECKPOINTS[UNKNOWN], dest)
    with pytest.raises(DownloadError, match="checksum mismatch"):
        _cli(["download-weights", UNKNOWN, "--from-file", str(weights_file), "--dir", str(tmp_path / "w2"),
              "--sha256", "f" * 64])
    assert _cli(["download-weights", UNKNOWN, "--from-file", str(weights_file), "--dir", str(tmp_path / "w3"),
                 "--sha256", _sha(weights_file)]) == 0
    assert "verified" in capsys.readouterr().out


def test_sha256_override_rewrites_the_record(tmp_path, weights_file, capsys):
    """Install A, then B under the same name with --sha256 <sum B>: the record (and the printed sum) must be B's,
    and re-installing B without --sha256 must then pass against the record (it failed with A's stale sum)."""
    dest = tmp_path / "weights"
    record = dest / "s2dhm_cmu_weights.pth.tar.sha256"
    other = tmp_path / "other.pth"
    torch.save({"conv1a.weight": torch.ones(2, 1, 3, 3)}, other)
    sum_a, sum_b = _sha(weights_file), _sha(other)
    assert sum_a != sum_b
    assert _cli(["download-weights", UNKNOWN, "--from-file", str(weights_file), "--dir", str(dest)]) == 0
    assert record.read_text() == f"{sum_a}  s2dhm_cmu_weights.pth.tar\n"
    capsys.readouterr()
    assert _cli(["download-weights", UNKNOWN, "--from-file", str(other), "--dir", str(dest),
                 "--sha256", sum_b.upper()]) == 0
    assert f"sha256 {sum_b} verified" in capsys.readouterr().out
    assert record.read_text() == f"{sum_b}  s2dhm_cmu_weights.pth.tar\n"
    assert _sha(dest / "s2dhm_cmu_weights.pth.tar") == sum_b
    # re-install B: checked against the rewritten record
    assert _cli(["download-weights", UNKNOWN, "--from-file", str(other), "--dir", str(dest)]) == 0
    assert f"sha256 {sum_b} matches the sum recorded by an earlier install" in capsys.readouterr().out
    # and A no longer matches it
    with pytest.raises(DownloadError, match="checksum mismatch"):
        install(weights_file, CHECKPOINTS[UNKNOWN], dest)
    assert record.read_text().split()[0] == sum_b and _sha(dest / "s2dhm_cmu_weights.pth.tar") == sum_b
    assert sorted(p.name for p in dest.iterdir()) == ["s2dhm_cmu_weights.pth.tar", "s2dhm_cmu_weights.pth.tar.sha256"]


def test_published_superpoint_sum_is_enforced(tmp_path, weights_file):
    """superpoint_v1.pth has a widely published sha256: any other file is refused, even with nothing recorded."""
    assert CHECKPOINTS["superpoint"].sha256 == "52b6708629640ca883673b5d5c097c4ddad37d8048b33f09c8ca0d69db12c40e"
    with pytest.raises(DownloadError, match="checksum mismatch.*52b67086"):
        install(weights_file, CHECKPOINTS["superpoint"], tmp_path / "weights")
    assert not (tmp_path / "weights" / "superpoint_v1.pth").exists()


def test_rejects_html_and_lfs_pointers(tmp_path):
    page = tmp_path / "Pitts30K_struct.mat"
    page.write_text("<html>404 Not Found</html>")
    with pytest.raises(DownloadError, match="does not look like a mat"):
        install(page, CHECKPOINTS["netvlad-pitts30k"], tmp_path / "weights")
    pointer = tmp_path / "weights.pth.tar"
    pointer.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 1\n")
    with pytest.raises(DownloadError, match="Git LFS pointer"):
        install(pointer, CHECKPOINTS["s2dhm-robotcar"], tmp_path / "weights")


def test_no_network_message(tmp_path):
    url = "http://127.0.0.1:9/superpoint_v1.pth"  # discard port: connection refused at once
    with pytest.raises(DownloadError) as error:
        download(CHECKPOINTS["superpoint"], tmp_path, url=url, timeout_s=5)
    message = str(error.value)
    assert url in message and "--from-file PATH" in message and "--print" in message
    assert not list(tmp_path.iterdir())


def test_print_only(tmp_path, capsys):
    assert _cli(["download-weights", "--print", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for checkpoint in CHECKPOINTS.values():
        assert checkpoint.url in out and str(tmp_path / checkpoint.filename) in out
    assert not list(tmp_path.iterdir())
    with pytest.raises(ValueError, match="unknown checkpoint"):
        _cli(["download-weights", "resnet"])


def test_printed_commands_check_the_published_sum(tmp_path, weights_file):
    """The last line of the by-hand commands verifies the file: `sha256sum -c` with a known sum, else prints it."""
    known = dataclasses.replace(CHECKPOINTS["superpoint"], sha256=_sha(weights_file))
    check = commands(known, weights_file.parent).splitlines()[-1]
    assert subprocess.run(["bash", "-c", check], capture_output=True).returncode == 0
    wrong = commands(CHECKPOINTS["superpoint"], weights_file.parent).splitlines()[-1]
    assert subprocess.run(["bash", "-c", wrong], capture_output=True).returncode != 0
    unknown_check = commands(CHECKPOINTS[UNKNOWN], tmp_path).splitlines()[-1]
    assert unknown_check == f"sha256sum {tmp_path / 's2dhm_cmu_weights.pth.tar'}"
