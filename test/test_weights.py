"""Loading VGG16-NetVLAD weights written in exactly the published layouts (S2DHM .pth.tar, Pitts30K_struct.mat)."""
import numpy as np
import pytest
import scipy.io
import torch
import torch.nn.functional as F

from s2dhm_ros.config import FeaturesConfig
from s2dhm_ros.features import create_extractor
from s2dhm_ros.features.hypercolumns import VGGHypercolumnExtractor, hypercolumns_from_taps
from s2dhm_ros.features.netvlad import VGG16NetVLAD
from s2dhm_ros.features.vgg16 import CONV_INDICES, IMAGENET_MEAN_255, forward_taps, preprocess
from s2dhm_ros.features.weights import load_s2dhm_checkpoint, load_vgg16_netvlad
from s2dhm_ros.io.checksum import sha256_file

WHITENING_DIM = 8  # the real model has 4096; small keeps the test file small


@pytest.fixture(scope="module")
def source():
    torch.manual_seed(7)
    return VGG16NetVLAD().eval()


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(0).integers(0, 256, (64, 80, 3), dtype=np.uint8)


def s2dhm_layout(model: VGG16NetVLAD, parallel: bool = True) -> dict:
    """The dict S2DHM's training saved: {'state_dict': {'encoder.module.<i>.weight', 'pool.module.*'}, ...}."""
    sub = ".module" if parallel else ""
    state = {f"encoder{sub}.{k}": v.clone() for k, v in model.encoder.state_dict().items()}
    state.update({f"pool{sub}.{k}": v.clone() for k, v in model.pool.state_dict().items()})
    # pytorch-NetVLAD-style training loops also store NumPy scalars next to the weights.
    return {"epoch": 30, "best_score": np.float64(0.9), "recalls": {1: np.float64(0.8)}, "state_dict": state}


@pytest.fixture(scope="module")
def s2dhm_file(tmp_path_factory, source):
    path = tmp_path_factory.mktemp("s2dhm") / "weights.pth.tar"
    torch.save(s2dhm_layout(source), path)
    return path


def test_s2dhm_checkpoint_gives_identical_outputs(s2dhm_file, source, image):
    extractor = VGGHypercolumnExtractor(weights=s2dhm_file, device="cpu")
    feats = extractor.extract(image)
    with torch.no_grad():
        x = preprocess(torch.from_numpy(image), source.mean, source.std)
        taps, conv5_3 = forward_taps(source.encoder, x)
        torch.testing.assert_close(feats.global_descriptor, source.pool(conv5_3)[0])
        torch.testing.assert_close(feats.hypercolumns, hypercolumns_from_taps(taps))
    assert extractor.fingerprint() == f"vgg16:{sha256_file(s2dhm_file)}"
    torch.testing.assert_close(extractor.model.mean, torch.tensor(IMAGENET_MEAN_255))


def test_legacy_checkpoint_without_dataparallel_prefix(tmp_path, source):
    """A 2019-era file: torch < 1.6 (non-zip) serialisation, NumPy 1.x scalar names, no `.module`."""
    path = tmp_path / "weights.pth.tar"
    torch.save(s2dhm_layout(source, parallel=False), path, _use_new_zipfile_serialization=False)
    legacy = path.read_bytes().replace(b"numpy._core.multiarray\nscalar", b"numpy.core.multiarray\nscalar")
    assert b"numpy.core.multiarray" in legacy
    path.write_bytes(legacy)
    model = load_s2dhm_checkpoint(path)
    torch.testing.assert_close(model.pool.centroids, source.pool.centroids)
    torch.testing.assert_close(model.encoder[28].weight, source.encoder[28].weight)


def test_create_extractor_reads_config_weights(s2dhm_file):
    extractor = create_extractor(FeaturesConfig(backbone="vgg16", weights=str(s2dhm_file), device="cpu"))
    assert extractor.fingerprint().startswith("vgg16:")


@pytest.mark.parametrize("edit, named", [
    (lambda s: s.pop("encoder.module.28.bias"), ["missing keys", "encoder.28.bias"]),
    (lambda s: s.update({"pool.module.conv.bias": torch.zeros(64)}), ["unexpected keys", "pool.conv.bias"]),
    (lambda s: s.update({"pool.module.centroids": torch.zeros(32, 512)}),
     ["shape mismatches", "pool.centroids: (32, 512) instead of (64, 512)"]),
])
def test_wrong_checkpoint_names_the_keys(tmp_path, source, edit, named):
    checkpoint = s2dhm_layout(source)
    edit(checkpoint["state_dict"])
    path = tmp_path / "weights.pth.tar"
    torch.save(checkpoint, path)
    with pytest.raises(ValueError) as error:
        load_s2dhm_checkpoint(path)
    for text in named:
        assert text in str(error.value)


def test_truncated_or_foreign_files_name_the_file(tmp_path, s2dhm_file):
    truncated = tmp_path / "truncated.pth.tar"
    truncated.write_bytes(s2dhm_file.read_bytes()[: 1 << 20])
    with pytest.raises(ValueError, match="truncated.pth.tar"):
        load_vgg16_netvlad(truncated)
    text = tmp_path / "notes.txt"
    text.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="notes.txt"):
        load_vgg16_netvlad(text)
    with pytest.raises(FileNotFoundError, match="download-weights"):
        load_vgg16_netvlad(tmp_path / "absent.pth.tar")


def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pth.tar"
    torch.save({"state_dict": {"x": torch.zeros(1)}, "obj": FeaturesConfig()}, path)
    with pytest.raises(ValueError, match="evil.pth.tar"):
        load_s2dhm_checkpoint(path)


def pitts_mat_layout(model: VGG16NetVLAD, wpca: np.ndarray, wpca_bias: np.ndarray, average_rgb) -> dict:
    """net struct as netvlad_tf_open's net_class2struct.m exports it and hloc reads it."""
    def layer(name, kind, weights=None):
        entry = {"name": name, "type": kind}
        if weights is not None:
            cell = np.empty(len(weights), dtype=object)
            cell[:] = weights
            entry["weights"] = cell
        return entry

    layers = []
    for i, module in enumerate(model.encoder):
        if i in CONV_INDICES:  # MATLAB conv filters: (S, S, IN, OUT)
            layers.append(layer(f"conv{i}", "conv", [module.weight.detach().permute(2, 3, 1, 0).numpy(),
                                                       module.bias.detach().numpy()]))
        else:
            layers.append(layer(f"l{i}", "relu" if isinstance(module, torch.nn.ReLU) else "pool"))
    assignment = model.pool.conv.weight.detach()[:, :, 0, 0].T.numpy()  # (D, K)
    layers += [layer("preL2", "normalize"),
               layer("vlad:core", "custom", [assignment, -model.pool.centroids.detach().T.numpy()]),
               layer("postL2", "custom"), layer("finalL2", "custom"),
               layer("WPCA", "conv", [wpca[None, None], wpca_bias]), layer("finalL2", "custom")]
    cells = np.empty(len(layers), dtype=object)
    cells[:] = layers
    average_image = np.tile(np.asarray(average_rgb, np.float32), (4, 4, 1))  # H x W x 3
    return {"net": {"layers": cells, "meta": {"normalization": {"averageImage": average_image}}}}


def hloc_reference(mat_path, conv5_3: torch.Tensor) -> torch.Tensor:
    """hloc's NetVLAD head on raw MAT arrays: residual x + c, dimension-major flattening, WPCA, L2."""
    layers = scipy.io.loadmat(mat_path, struct_as_record=False, squeeze_me=True)["net"].layers
    a, c = (torch.from_numpy(w) for w in layers[30].weights)  # (D, K) each
    w, b = (torch.from_numpy(np.asarray(v)) for v in layers[33].weights)  # (K*D, OUT), (OUT,)
    x = F.normalize(conv5_3[0].flatten(1), dim=0)  # (D, N)
    scores = F.softmax(a.T @ x, dim=0)  # (K, N)
    desc = (scores[None] * (x[:, None, :] + c[:, :, None])).sum(-1)  # (D, K)
    desc = F.normalize(F.normalize(desc, dim=0).flatten(), dim=0)  # index d * K + k
    return F.normalize(w.T @ desc + b, dim=0)


@pytest.fixture(scope="module")
def pitts(tmp_path_factory, source):
    rng = np.random.default_rng(1)
    wpca = rng.standard_normal((32768, WHITENING_DIM)).astype(np.float32)
    bias = rng.standard_normal(WHITENING_DIM).astype(np.float32)
    path = tmp_path_factory.mktemp("pitts") / "Pitts30K_struct.mat"
    scipy.io.savemat(path, pitts_mat_layout(source, wpca, bias, (122.7, 114.9, 101.8)))
    return path


def test_pitts30k_mat_matches_hloc_reading(pitts, source, image):
    extractor = VGGHypercolumnExtractor(weights=pitts, device="cpu")
    model = extractor.model
    torch.testing.assert_close(model.mean, torch.tensor([122.7, 114.9, 101.8]))
    torch.testing.assert_close(model.std, torch.ones(3))
    for i in CONV_INDICES:
        torch.testing.assert_close(model.encoder[i].weight, source.encoder[i].weight)
    feats = extractor.extract(image)
    assert feats.global_descriptor.shape == (WHITENING_DIM,)
    with torch.no_grad():
        x = preprocess(torch.from_numpy(image), model.mean, model.std)
        _, conv5_3 = forward_taps(model.encoder, x)
        torch.testing.assert_close(feats.global_descriptor, hloc_reference(pitts, conv5_3), atol=1e-5, rtol=1e-4)


def test_truncated_or_incomplete_mat_is_a_clear_error(tmp_path, pitts, source):
    truncated = tmp_path / "Pitts30K_struct.mat"
    truncated.write_bytes(pitts.read_bytes()[: 1 << 20])
    with pytest.raises(ValueError, match="Pitts30K_struct.mat"):
        load_vgg16_netvlad(truncated)
    layout = pitts_mat_layout(source, np.zeros((32768, 2), np.float32), np.zeros(2, np.float32), (0, 0, 0))
    layout["net"]["layers"] = layout["net"]["layers"][:31]
    short = tmp_path / "short.mat"
    scipy.io.savemat(short, layout)
    with pytest.raises(ValueError, match="layer 33"):
        load_vgg16_netvlad(short)
