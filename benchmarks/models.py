"""The two benchmark architectures, defined once per framework, and the copy of
pyconv's weights into the PyTorch versions.

    keras_cnn: Conv2D(32, 3, relu) - Conv2D(64, 3, relu) - MaxPooling2D(2) -
               Dropout(0.25) - Flatten - Dense(128, relu) - Dropout(0.5) - Dense(10)
    lenet5:    Conv2D(6, 5, same, relu) - AvgPool(2) - Conv2D(16, 5, relu) - AvgPool(2) -
               Flatten - Dense(120, relu) - Dense(84, relu) - Dense(10)
    lenet5_classic: the same with tanh, as LeCun et al. wrote it
    keras_example:  Keras's "Simple MNIST convnet" as its tutorial writes it:
               Conv2D(32, 3, relu) - MaxPooling2D(2) - Conv2D(64, 3, relu) -
               MaxPooling2D(2) - Flatten - Dropout(0.5) - Dense(10)

pyconv's last layer is Dense(10, softmax) (fused with the cross-entropy during
training, as in Keras); the PyTorch modules end in logits, trained with
CrossEntropyLoss and wrapped with a Softmax for inference (`with_softmax`).
"""

import numpy as np

import pyconv
from pyconv import layers as L

NAMES = {"keras_cnn": "Keras MNIST CNN", "lenet5": "LeNet-5", "lenet5_classic": "LeNet-5 tanh",
         "keras_example": "Keras example"}


# ----- pyconv ----------------------------------------------------------------------

def pyconv_model(name):
    """A built (not compiled) pyconv Sequential for 28x28x1 inputs."""
    if name == "keras_cnn":
        body = [L.Conv2D(32, 3, activation="relu"),
                L.Conv2D(64, 3, activation="relu"),
                L.MaxPooling2D(2),
                L.Dropout(0.25),
                L.Flatten(),
                L.Dense(128, activation="relu"),
                L.Dropout(0.5),
                L.Dense(10, activation="softmax")]
    elif name in ("lenet5", "lenet5_classic"):
        act = "relu" if name == "lenet5" else "tanh"
        body = [L.Conv2D(6, 5, padding="same", activation=act),
                L.AveragePooling2D(2),
                L.Conv2D(16, 5, activation=act),
                L.AveragePooling2D(2),
                L.Flatten(),
                L.Dense(120, activation=act),
                L.Dense(84, activation=act),
                L.Dense(10, activation="softmax")]
    elif name == "keras_example":
        body = [L.Conv2D(32, 3, activation="relu"),
                L.MaxPooling2D(2),
                L.Conv2D(64, 3, activation="relu"),
                L.MaxPooling2D(2),
                L.Flatten(),
                L.Dropout(0.5),
                L.Dense(10, activation="softmax")]
    else:
        raise ValueError(f"unknown model {name!r}")
    model = pyconv.Sequential([pyconv.Input((28, 28, 1))] + body, name=name)
    model.build()
    return model


# ----- PyTorch ---------------------------------------------------------------------

def torch_model(torch, name):
    """The same architecture as an NCHW nn.Sequential ending in logits."""
    nn = torch.nn
    if name == "keras_cnn":
        return nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(),
            nn.Conv2d(32, 64, 3), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Dropout(0.25),
            nn.Flatten(),
            nn.Linear(12 * 12 * 64, 128), nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(128, 10))
    if name in ("lenet5", "lenet5_classic"):
        act = nn.ReLU if name == "lenet5" else nn.Tanh
        return nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), act(),
            nn.AvgPool2d(2),
            nn.Conv2d(6, 16, 5), act(),
            nn.AvgPool2d(2),
            nn.Flatten(),
            nn.Linear(5 * 5 * 16, 120), act(),
            nn.Linear(120, 84), act(),
            nn.Linear(84, 10))
    if name == "keras_example":
        return nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Dropout(0.5),
            nn.Linear(5 * 5 * 64, 10))
    raise ValueError(f"unknown model {name!r}")


def with_softmax(torch, module):
    """module followed by a softmax over classes: what pyconv's predict returns."""
    return torch.nn.Sequential(module, torch.nn.Softmax(dim=1))


# ----- weights ---------------------------------------------------------------------

def copy_weights(torch, source, target):
    """Copies a pyconv model's weights into the matching PyTorch model.

    Conv2D kernel (kh, kw, cin, cout) -> Conv2d weight (cout, cin, kh, kw);
    Dense kernel (in, out) -> Linear weight (out, in). A Dense right after Flatten
    sees (h, w, c)-ordered features in pyconv and (c, h, w)-ordered ones in
    PyTorch, so its input rows are permuted accordingly."""
    targets = [m for m in target.modules()
               if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    shape = source.input_shape          # (None, h, w, c) as each layer sees it
    flattened_from = None                # (h, w, c) before the last Flatten
    pending = iter(targets)
    for layer in source.layers:
        weights = layer.get_weights()
        if layer.core_type == "Flatten":
            flattened_from = tuple(shape[1:])
        if weights:
            module = next(pending)
            kernel, bias = weights
            if layer.core_type == "Conv2D":
                w = kernel.transpose(3, 2, 0, 1)
            else:
                if flattened_from is not None:
                    h, w_, c = flattened_from
                    kernel = (kernel.reshape(h, w_, c, -1).transpose(2, 0, 1, 3)
                              .reshape(h * w_ * c, -1))
                    flattened_from = None
                w = kernel.T
            if tuple(module.weight.shape) != w.shape:
                raise ValueError(f"{layer.name}: pyconv weight {w.shape} does not fit "
                                 f"{module} {tuple(module.weight.shape)}")
            with torch.no_grad():
                module.weight.copy_(torch.from_numpy(np.ascontiguousarray(w)))
                module.bias.copy_(torch.from_numpy(bias))
        shape = layer.compute_output_shape(shape)
    if next(pending, None) is not None:
        raise ValueError("the PyTorch model has more weighted layers than the pyconv one")
