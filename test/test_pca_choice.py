"""Plain PCA (the public S2DHM code: scikit-learn PCA, whiten=False) versus PCA-whitening (our default)."""
import numpy as np
import pytest

from s2dhm_ros.config import MapBuilderConfig
from s2dhm_ros.retrieval import PcaWhitening


def _descriptors(n=60, dim=20, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dim)) * np.geomspace(10, 0.1, dim)  # anisotropic: whitening matters
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_plain_pca_is_a_rotation_of_the_centred_descriptors():
    x = _descriptors()
    pca = PcaWhitening.fit(x, dim=1024, whiten=False)
    assert pca.dim == 20  # min(dim, R - 1, D)
    y = (x - pca.mean) @ pca.projection
    # orthonormal directions: lengths and angles of the centred descriptors are kept, variances are not equalised
    assert np.allclose(pca.projection.T @ pca.projection, np.eye(20), atol=1e-5)
    assert np.allclose(np.linalg.norm(y, axis=1), np.linalg.norm(x - x.mean(0), axis=1), atol=1e-5)
    variances = y.var(0, ddof=1)
    assert variances[0] > 100 * variances[-1]
    # same subspace and output as the public code's recipe: centre, project on the top principal axes, normalise
    _, _, vt = np.linalg.svd(x - x.mean(0), full_matrices=False)
    reference = (x - x.mean(0)) @ vt[:5].T
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)
    assert np.allclose(np.abs(PcaWhitening.fit(x, dim=5, whiten=False)(x)), np.abs(reference), atol=1e-5)


@pytest.mark.parametrize("n, dim", [(60, 20), (15, 40)])  # the D x D covariance branch, the R x R Gram branch
def test_fit_gives_the_principal_axes_of_the_svd(n, dim):
    """The chunked eigendecomposition gives the SVD's principal directions and variances (up to sign)."""
    x = _descriptors(n, dim, seed=1)
    centred = x - x.mean(0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    variances = s[:8] ** 2 / (n - 1)
    for whiten in (False, True):
        pca = PcaWhitening.fit(x, dim=8, whiten=whiten)
        expected = centred @ vt[:8].T / (np.sqrt(variances + 1e-6 * variances[0]) if whiten else 1)
        assert np.allclose(np.abs(centred @ pca.projection), np.abs(expected), atol=1e-4)


def test_large_reference_sets_are_fitted_on_a_seeded_sample():
    x = _descriptors(100, 20)
    rows = np.sort(np.random.default_rng(0).choice(100, 40, replace=False))
    pca = PcaWhitening.fit(x, dim=10, max_samples=40)
    assert np.allclose(pca.mean, x[rows].mean(0), atol=1e-6)
    assert not np.allclose(pca.mean, x.mean(0), atol=1e-3)
    assert np.array_equal(PcaWhitening.fit(x, dim=10, max_samples=100).projection,
                          PcaWhitening.fit(x, dim=10).projection)


def test_whitening_equalises_the_variances():
    x = _descriptors()
    pca = PcaWhitening.fit(x, dim=10, whiten=True)
    y = (x - pca.mean) @ pca.projection
    assert np.allclose(np.cov(y.T), np.eye(10), atol=1e-3)
    out = pca(x)
    assert np.allclose(np.linalg.norm(out, axis=1), 1, atol=1e-5)


def test_the_choice_is_a_map_builder_setting_with_whitening_by_default():
    assert MapBuilderConfig().pca_whitening is True


def test_directions_of_zero_variance_stay_finite_and_orthonormal():
    """Fewer references than dimensions and descriptors of rank 3: the Gram branch must not divide by the zero
    variances (it gave NaN global descriptors on the map-build benchmark's smooth synthetic street)."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(30, 3)) @ rng.normal(size=(3, 50))
    pca = PcaWhitening.fit(x, dim=20, whiten=False)
    assert np.allclose(pca.projection.T @ pca.projection, np.eye(20), atol=1e-5)
    assert np.isfinite(PcaWhitening.fit(x, dim=20)(x)).all()
