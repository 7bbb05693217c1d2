"""PyTorch twins of pyconv.applications classifiers, for 28x28x1 inputs and 10
classes: the same layers, sizes and activations in NCHW. bench_zoo.py checks
each twin's parameter count against pyconv's before timing (batch
normalization's running statistics counted as Keras counts them).

Each twin creates its weighted modules in the order pyconv's model lists its
weighted layers, so `copy_weights` can hand pyconv's initial weights over one
layer after another and both frameworks compute the same function
(`output_diff` checks it)."""

import numpy as np


def twin(torch, name):
    builders = {"lenet5": _lenet5, "alexnet": _alexnet, "vgg": _vgg, "inception": _inception,
                "resnet20": _resnet20, "densenet": _densenet, "se_resnet20": _se_resnet20,
                "mobilenet": _mobilenet, "efficientnet": _efficientnet}
    return builders[name](torch)


def count_like_keras(net):
    """Trainable parameters plus batch normalization's running mean and variance."""
    n = sum(p.numel() for p in net.parameters())
    for m in net.modules():
        if hasattr(m, "running_mean") and m.running_mean is not None:
            n += m.running_mean.numel() + m.running_var.numel()
    return n


# ----- shared pieces ---------------------------------------------------------------

def _bn(nn, channels):
    # Keras's defaults, not PyTorch's: epsilon 1e-3 (not 1e-5), and the moving
    # averages keep 0.99 of their value per step (PyTorch's momentum 0.01, not 0.1).
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)


def _conv(nn, cin, cout, kernel, stride=1, bias=True, groups=1):
    """Conv2d with Keras's padding="same" on sizes divisible by the stride
    (28 -> 14 -> 7 here). At stride 1 that is kernel // 2 on every side. At
    stride 2 Keras pads kernel - 2 pixels in all, the extra one at the bottom
    and right, where PyTorch's symmetric padding would shift every window by a
    pixel: so that padding is explicit."""
    if stride == 1 or kernel <= stride:
        return nn.Conv2d(cin, cout, kernel, stride, kernel // 2 if stride == 1 else 0,
                         bias=bias, groups=groups)
    total = kernel - stride
    return nn.Sequential(nn.ZeroPad2d((total // 2, total - total // 2) * 2),
                         nn.Conv2d(cin, cout, kernel, stride, 0, bias=bias, groups=groups))


def _squeeze_excite(torch, channels, units):
    """pyconv's squeeze_excite: the channels' global means through a ReLU
    bottleneck of `units`, then a sigmoid gate per channel."""
    nn = torch.nn

    class SqueezeExcite(nn.Module):
        def __init__(self):
            super().__init__()
            self.squeeze = nn.Linear(channels, units)
            self.excite = nn.Linear(units, channels)

        def forward(self, x):
            gate = self.excite(self.squeeze(x.mean((2, 3))).relu()).sigmoid()
            return x * gate[:, :, None, None]

    return SqueezeExcite()


# ----- the architectures -------------------------------------------------------------

def _lenet5(torch):
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.Tanh(), nn.AvgPool2d(2),
                         nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2), nn.Flatten(),
                         nn.Linear(400, 120), nn.Tanh(), nn.Linear(120, 84), nn.Tanh(),
                         nn.Linear(84, 10))


def _alexnet(torch):
    nn = torch.nn

    # TensorFlow's LRN alpha multiplies the plain sum; PyTorch's divides by the size.
    def lrn():
        return nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)
    return nn.Sequential(
        nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), lrn(), nn.MaxPool2d(3, 2),
        nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), lrn(), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 96, 3, padding=1), nn.ReLU(), nn.Conv2d(96, 96, 3, padding=1), nn.ReLU(),
        nn.Conv2d(96, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2), nn.Flatten(),
        nn.Linear(256, 256), nn.ReLU(), nn.Dropout(0.5), nn.Linear(256, 256), nn.ReLU(),
        nn.Dropout(0.5), nn.Linear(256, 10))


def _vgg(torch):
    nn = torch.nn
    layers, channels = [], 1
    for filters in (32, 64, 128):
        for _ in range(2):
            layers += [nn.Conv2d(channels, filters, 3, padding=1), nn.ReLU()]
            channels = filters
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(128 * 3 * 3, 256), nn.ReLU(),
                         nn.Dropout(0.5), nn.Linear(256, 10))


def _inception(torch):
    nn = torch.nn

    def relu_conv(cin, cout, kernel):
        return [nn.Conv2d(cin, cout, kernel, padding=kernel // 2), nn.ReLU()]

    class Module(nn.Module):
        """Four branches, concatenated along the channels: 1x1; 1x1 then 3x3;
        1x1 then 5x5; 3x3 max pooling (stride 1, same) then 1x1."""

        def __init__(self, cin, f1, f3_reduce, f3, f5_reduce, f5, pool_proj):
            super().__init__()
            self.b1 = nn.Sequential(*relu_conv(cin, f1, 1))
            self.b3 = nn.Sequential(*relu_conv(cin, f3_reduce, 1), *relu_conv(f3_reduce, f3, 3))
            self.b5 = nn.Sequential(*relu_conv(cin, f5_reduce, 1), *relu_conv(f5_reduce, f5, 5))
            # Padding with -inf, as Keras's same max pooling ignores the border.
            self.bp = nn.Sequential(nn.MaxPool2d(3, 1, 1), *relu_conv(cin, pool_proj, 1))
            self.channels = f1 + f3 + f5 + pool_proj

        def forward(self, x):
            return torch.cat([self.b1(x), self.b3(x), self.b5(x), self.bp(x)], 1)

    m1 = Module(32, 16, 16, 24, 4, 8, 8)
    m2 = Module(m1.channels, 24, 24, 32, 8, 16, 16)
    m3 = Module(m2.channels, 32, 32, 48, 8, 16, 16)
    m4 = Module(m3.channels, 48, 32, 64, 8, 24, 24)
    return nn.Sequential(*relu_conv(1, 32, 3), m1, m2, nn.MaxPool2d(2), m3, nn.MaxPool2d(2), m4,
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(m4.channels, 10))


def _resnet(torch, se):
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            # Module order = pyconv's layer order, which lists Add's first input,
            # the shortcut, before the residual path (a, b, the gate).
            self.shortcut = nn.Conv2d(cin, cout, 1, stride) if stride > 1 else nn.Identity()
            self.a = nn.Sequential(_conv(nn, cin, cout, 3, stride), _bn(nn, cout), nn.ReLU())
            self.b = nn.Sequential(_conv(nn, cout, cout, 3), _bn(nn, cout))
            self.gate = _squeeze_excite(torch, cout, cout // 4) if se else nn.Identity()
            self.relu = nn.ReLU()

        def forward(self, x):
            return self.relu(self.shortcut(x) + self.gate(self.b(self.a(x))))

    blocks, channels = [], 16
    for stage, filters in enumerate((16, 32, 64)):
        for block in range(3):
            stride = 2 if stage > 0 and block == 0 else 1
            blocks.append(Block(channels, filters, stride))
            channels = filters
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), _bn(nn, 16), nn.ReLU(), *blocks,
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


def _resnet20(torch):
    return _resnet(torch, se=False)


def _se_resnet20(torch):
    return _resnet(torch, se=True)


def _densenet(torch, growth=12, layers_per_block=4, blocks=3):
    nn = torch.nn

    def bn_relu_conv(cin, cout, kernel):
        return nn.Sequential(_bn(nn, cin), nn.ReLU(),
                             nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=False))

    class DenseLayer(nn.Module):
        """Its input and `growth` new channels computed from it, concatenated."""

        def __init__(self, cin):
            super().__init__()
            self.new = bn_relu_conv(cin, growth, 3)

        def forward(self, x):
            return torch.cat([x, self.new(x)], 1)

    channels = 2 * growth
    layers = [nn.Conv2d(1, channels, 3, padding=1, bias=False)]
    for block in range(blocks):
        for _ in range(layers_per_block):
            layers.append(DenseLayer(channels))
            channels += growth
        if block < blocks - 1:  # transition: compress by half, then halve the size
            layers += [bn_relu_conv(channels, channels // 2, 1), nn.AvgPool2d(2)]
            channels //= 2
    return nn.Sequential(*layers, _bn(nn, channels), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(channels, 10))


def _mobilenet(torch):
    nn = torch.nn

    def bn_relu6(c):
        return [_bn(nn, c), nn.ReLU6()]
    layers = [nn.Conv2d(1, 32, 3, padding=1, bias=False), *bn_relu6(32)]
    channels = 32
    for filters, stride in ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1)):
        layers += [_conv(nn, channels, channels, 3, stride, bias=False, groups=channels),
                   *bn_relu6(channels), nn.Conv2d(channels, filters, 1, bias=False),
                   *bn_relu6(filters)]
        channels = filters
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(256, 10))


def _efficientnet(torch):
    nn = torch.nn

    def conv_bn(cin, cout, kernel=1, stride=1, groups=1, act=True):
        return nn.Sequential(_conv(nn, cin, cout, kernel, stride, bias=False, groups=groups),
                             _bn(nn, cout), *([nn.SiLU()] if act else []))  # swish == SiLU

    class MBConv(nn.Module):
        """Expand (1x1), depthwise 3x3, squeeze-and-excite, project (1x1), and
        the residual where the shape allows it."""

        def __init__(self, cin, cout, expand, stride):
            super().__init__()
            hidden = cin * expand
            self.expand = conv_bn(cin, hidden) if expand != 1 else nn.Identity()
            self.depthwise = conv_bn(hidden, hidden, 3, stride, groups=hidden)
            self.gate = _squeeze_excite(torch, hidden, max(1, hidden // (4 * expand)))
            self.project = conv_bn(hidden, cout, act=False)
            self.residual = stride == 1 and cin == cout

        def forward(self, x):
            y = self.project(self.gate(self.depthwise(self.expand(x))))
            return x + y if self.residual else y

    layers, channels = [conv_bn(1, 16, 3)], 16
    for out, expand, stride, repeat in ((16, 1, 1, 1), (24, 4, 2, 2), (40, 4, 2, 2),
                                        (64, 4, 1, 1)):
        for i in range(repeat):
            layers.append(MBConv(channels, out, expand, stride if i == 0 else 1))
            channels = out
    return nn.Sequential(*layers, conv_bn(channels, 128), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(128, 10))


# ----- the same weights in both ------------------------------------------------------

def _torch_kernel(layer, kernel, flattened):
    """pyconv's kernel array laid out as the matching PyTorch weight."""
    if layer.core_type == "Conv2D":            # (kh, kw, cin, cout) -> (cout, cin, kh, kw)
        return kernel.transpose(3, 2, 0, 1)
    if layer.core_type == "DepthwiseConv2D":   # (kh, kw, c, m) -> (c * m, 1, kh, kw)
        kh, kw, c, m = kernel.shape
        return kernel.transpose(2, 3, 0, 1).reshape(c * m, 1, kh, kw)
    if flattened is not None:  # pyconv flattens (h, w, c), PyTorch (c, h, w): permute the rows
        h, w, c = flattened
        kernel = kernel.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(h * w * c, -1)
    return kernel.T                            # Dense (in, out) -> Linear (out, in)


def copy_weights(torch, model, net):
    """Copies pyconv `model`'s weights (and batch normalization's moving
    statistics) into its twin `net`, pyconv's weighted layers and the twin's
    weighted modules paired in order; raises ValueError where they do not
    match. Returns [(parameter, l2)] for the twin's weights that pyconv
    penalises with an L2 kernel regularizer (loss + l2 * sum(w^2)), so that a
    PyTorch optimizer can apply the same penalty as weight decay."""
    nn = torch.nn
    expected = {"Conv2D": nn.Conv2d, "DepthwiseConv2D": nn.Conv2d, "Dense": nn.Linear,
                "BatchNormalization": nn.BatchNorm2d}
    modules = iter([m for m in net.modules() if isinstance(m, tuple(set(expected.values())))])
    flattened, regularized = None, []
    for layer in model.layers:
        if layer.core_type == "Flatten":
            flattened = tuple(layer.input.shape[1:])
        weights = layer.get_weights()
        if not weights:
            continue
        module = next(modules, None)
        if not isinstance(module, expected.get(layer.core_type, ())):
            raise ValueError(f"{layer.name} ({layer.core_type}) has no twin: the next "
                             f"PyTorch module is {module}")
        if layer.core_type == "BatchNormalization":
            targets = (module.weight, module.bias, module.running_mean, module.running_var)
        else:
            weights[0] = _torch_kernel(layer, weights[0], flattened)
            targets = (module.weight, module.bias)[:len(weights)]
            flattened = None
            l2 = layer.core_config().get("kernel_regularizer_l2", 0.0)
            if l2:
                regularized.append((module.weight, l2))
        if len(targets) != len(weights) or any(t is None for t in targets):
            raise ValueError(f"{layer.name}: {len(weights)} arrays, {module} takes "
                             f"{sum(t is not None for t in targets)}")
        with torch.no_grad():
            for t, w in zip(targets, weights):
                if tuple(t.shape) != w.shape:
                    raise ValueError(f"{layer.name}: pyconv array {w.shape} does not fit "
                                     f"{module}'s {tuple(t.shape)}")
                t.copy_(torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32)))
    leftover = next(modules, None)
    if leftover is not None:
        raise ValueError(f"the twin has weighted modules pyconv lacks, from {leftover}")
    return regularized


def output_diff(torch, model, net, x):
    """Largest |difference| between pyconv's predictions on the NHWC images x
    (N, 28, 28, 1) and the twin's softmax in eval mode (no dropout, batch
    normalization on its moving statistics): about 1e-6 when both hold the
    same weights and compute the same function."""
    was_training = net.training
    net.eval()
    with torch.no_grad():
        theirs = net(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))))
        theirs = theirs.softmax(1).numpy()
    net.train(was_training)
    return float(np.abs(model.predict(x, verbose=0) - theirs).max())


def param_groups(net, regularized):
    """torch.optim parameter groups for the twin that apply pyconv's L2 kernel
    penalties (`regularized`, from copy_weights): l2 * sum(w^2) adds 2 * l2 * w
    to the gradient before the optimizer sees it, which is what PyTorch's
    (coupled, not AdamW's) weight_decay = 2 * l2 does."""
    penalised = {id(p) for p, _ in regularized}
    groups = [{"params": [p for p in net.parameters() if id(p) not in penalised]}]
    return groups + [{"params": [p], "weight_decay": 2 * l2} for p, l2 in regularized]
