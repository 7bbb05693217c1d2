"""MaxPooling2D(return_indices=True) and MaxUnpooling2D (SegNet): values go
back to where each window's maximum was; gradients, errors, the model file and
the C library."""

import numpy as np
import pytest

import pyconv
from gradcheck import check_model_grads, spaced_values
from pyconv import layers as L

RNG = np.random.default_rng(0)


def numpy_unpool(values, source, pool, stride):
    """Each window's value at the first position of its maximum in source."""
    out = np.zeros_like(source)
    n, oh, ow, c = values.shape
    for i in range(oh):
        for j in range(ow):
            window = source[:, i * stride:i * stride + pool, j * stride:j * stride + pool]
            flat = window.reshape(n, -1, c)
            best = flat.argmax(axis=1)  # first maximum in row-major window order
            for b in range(n):
                for ch in range(c):
                    r, q = divmod(best[b, ch], pool)
                    out[b, i * stride + r, j * stride + q, ch] += values[b, i, j, ch]
    return out


@pytest.mark.parametrize("pool, stride, shape", [(2, 2, (4, 6, 3)), (3, 3, (6, 6, 2)),
                                                 (2, 2, (5, 5, 1)), (3, 2, (7, 7, 2))])
def test_values_return_to_their_maxima(pool, stride, shape):
    inp = pyconv.Input(shape)
    pooled, indices = L.MaxPooling2D(pool, stride, return_indices=True)(inp)
    doubled = L.Activation("linear")(pooled)
    model = pyconv.Model(inp, L.MaxUnpooling2D()([doubled, indices]))
    assert model.output_shape == (None,) + shape
    x = spaced_values((2,) + shape, RNG)
    oh, ow = pooled.shape[1:3]
    maxima = np.array([[[x[:, i * stride:i * stride + pool, j * stride:j * stride + pool]
                         .max(axis=(1, 2)) for j in range(ow)] for i in range(oh)]])
    maxima = maxima[0].transpose(2, 0, 1, 3)  # (N, OH, OW, C)
    np.testing.assert_allclose(model.predict(x, verbose=0),
                               numpy_unpool(maxima, x, pool, stride), rtol=1e-6)


def test_gradients_flow_to_the_values():
    inp = pyconv.Input((4, 4, 2))
    features = L.Conv2D(2, 1)(inp)
    pooled, indices = L.MaxPooling2D(return_indices=True)(features)
    up = L.MaxUnpooling2D()([L.Conv2D(2, 1)(pooled), indices])
    model = pyconv.Model(inp, L.Dense(3)(L.Flatten()(up)))
    model.compile("sgd", "mse")
    x = spaced_values((3, 4, 4, 2), RNG, spacing=0.2)  # no ties: the argmax stays put
    check_model_grads(model._graph, x, RNG.standard_normal((3, 3)).astype(np.float32),
                      eps=1e-3)


def test_unpooling_without_indices_is_refused():
    inp = pyconv.Input((4, 4, 1))
    pooled, indices = L.MaxPooling2D(return_indices=True)(inp)
    with pytest.raises(ValueError, match="needs the indices of a MaxPooling2D"):
        L.MaxUnpooling2D()(pooled)
    with pytest.raises(ValueError, match="needs the indices of a MaxPooling2D"):
        L.MaxUnpooling2D()([pooled, pooled])
    with pytest.raises(TypeError, match="only MaxUnpooling2D takes them"):
        L.Flatten()(indices)
    with pytest.raises(ValueError, match="functional model"):
        pyconv.Sequential([pyconv.Input((4, 4, 1)), L.MaxPooling2D(return_indices=True)])
    other = L.Conv2D(3, 1)(pooled)
    with pytest.raises(pyconv.ShapeError, match="pooled shape"):
        L.MaxUnpooling2D()([other, indices])


def test_a_segnet_style_model_trains_saves_and_runs_natively(tmp_path):
    pyconv.set_seed(7)
    inp = pyconv.Input((8, 8, 1))
    x = L.Conv2D(4, 3, padding="same", activation="relu")(inp)
    x, indices = L.MaxPooling2D(return_indices=True)(x)
    x = L.Conv2D(4, 3, padding="same", activation="relu")(x)
    x = L.MaxUnpooling2D()([x, indices])
    out = L.Conv2D(1, 3, padding="same", activation="sigmoid")(x)
    model = pyconv.Model(inp, out)
    model.compile(pyconv.optimizers.Adam(0.01), "binary_crossentropy")
    data = RNG.random((64, 8, 8, 1), dtype=np.float32)
    masks = (data > 0.6).astype(np.float32)
    history = model.fit(data, masks, epochs=40, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.8 * history.history["loss"][0]  # 0.76 here
    path = tmp_path / "segnet.pcv"
    model.save(path)
    loaded = pyconv.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(data[:4], verbose=0),
                                  model.predict(data[:4], verbose=0))
    from test_native_runtime import _library, assert_c_api_matches_python
    assert_c_api_matches_python(_library(), model, data[:4], tmp_path / "segnet2.pcv")
