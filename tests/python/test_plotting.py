"""The plotting functions write real PNG files that are not blank."""

import numpy as np
import pytest

import pyconv
from pyconv import layers as L
from pyconv import utils

plt = pytest.importorskip("matplotlib.pyplot")  # in the [test] extra: never skipped in CI


def _not_blank(path):
    image = plt.imread(str(path))
    assert image.ndim == 3 and image.shape[0] > 20 and image.shape[1] > 20
    assert image[..., :3].std() > 0.02  # more than one flat colour


@pytest.fixture(scope="module")
def trained():
    pyconv.set_seed(0)
    (x, y), _ = pyconv.datasets.mnist.load_sample(num_test=100)
    x = pyconv.data.normalize(x[:1000])[..., None]
    inp = pyconv.Input((28, 28, 1))
    a = L.Conv2D(8, 5, activation="relu", name="edges")(inp)
    b = L.Conv2D(8, 3, padding="same", name="more")(a)
    merged = L.Add(name="residual")([a, b])
    out = L.Dense(10, activation="softmax")(L.Flatten()(L.MaxPooling2D()(merged)))
    model = pyconv.Model(inp, out)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y[:1000], epochs=2, batch_size=64, validation_split=0.2, verbose=0)
    return model, history, x


def test_history(trained, tmp_path):
    _, history, _ = trained
    _not_blank(utils.plot_history(history, tmp_path / "history.png"))
    with pytest.raises(ValueError, match="no logs"):
        utils.plot_history({}, tmp_path / "empty.png")


def test_filters(trained, tmp_path):
    model, _, _ = trained
    _not_blank(utils.plot_filters(model.get_layer("edges"), tmp_path / "filters.png"))
    with pytest.raises(ValueError, match="no \\(kh, kw, channels, filters\\) kernel"):
        utils.plot_filters(model.get_layer("residual"), tmp_path / "none.png")


def test_feature_maps(trained, tmp_path):
    model, _, x = trained
    _not_blank(utils.plot_feature_maps(model, x[0], model.get_layer("edges"),
                                       tmp_path / "maps.png"))
    (maps,) = model._graph.node_outputs([x[:1]], [0])
    assert maps.shape == (1, 24, 24, 8) and maps.min() >= 0  # the ReLU'd feature maps
    with pytest.raises(ValueError, match="expected one image"):
        utils.plot_feature_maps(model, x[:2], "edges", tmp_path / "two.png")


def test_model_graph(trained, tmp_path):
    model, _, _ = trained
    _not_blank(utils.plot_model(model, tmp_path / "model.png"))


def test_heat_map(tmp_path):
    canvas = np.random.default_rng(0).random((56, 56), dtype=np.float32)
    heat = np.zeros((8, 8), np.float32)
    heat[3, 4] = 0.9
    _not_blank(utils.plot_heat_map(canvas, heat, tmp_path / "waldo.png"))
