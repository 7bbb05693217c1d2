"""PyTorch twins of pyconv.applications classifiers, for 28x28x1 inputs and 10
classes: the same layers, sizes and activations in NCHW. bench_zoo.py checks
each twin's parameter count against pyconv's before timing (batch
normalization's running statistics counted as Keras counts them)."""


def twin(torch, name):
    nn = torch.nn
    builders = {"lenet5": _lenet5, "alexnet": _alexnet, "vgg": _vgg, "resnet20": _resnet20,
                "mobilenet": _mobilenet}
    return builders[name](nn)


def count_like_keras(net):
    """Trainable parameters plus batch normalization's running mean and variance."""
    n = sum(p.numel() for p in net.parameters())
    for m in net.modules():
        if hasattr(m, "running_mean") and m.running_mean is not None:
            n += m.running_mean.numel() + m.running_var.numel()
    return n


def _lenet5(nn):
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.Tanh(), nn.AvgPool2d(2),
                         nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2), nn.Flatten(),
                         nn.Linear(400, 120), nn.Tanh(), nn.Linear(120, 84), nn.Tanh(),
                         nn.Linear(84, 10))


def _alexnet(nn):
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


def _vgg(nn):
    layers, channels = [], 1
    for filters in (32, 64, 128):
        for _ in range(2):
            layers += [nn.Conv2d(channels, filters, 3, padding=1), nn.ReLU()]
            channels = filters
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(128 * 3 * 3, 256), nn.ReLU(),
                         nn.Dropout(0.5), nn.Linear(256, 10))


def _resnet20(nn):
    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.a = nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.BatchNorm2d(cout),
                                   nn.ReLU())
            self.b = nn.Sequential(nn.Conv2d(cout, cout, 3, 1, 1), nn.BatchNorm2d(cout))
            self.shortcut = nn.Conv2d(cin, cout, 1, stride) if stride > 1 else nn.Identity()
            self.relu = nn.ReLU()

        def forward(self, x):
            return self.relu(self.shortcut(x) + self.b(self.a(x)))

    blocks, channels = [], 16
    for stage, filters in enumerate((16, 32, 64)):
        for block in range(3):
            stride = 2 if stage > 0 and block == 0 else 1
            blocks.append(Block(channels, filters, stride))
            channels = filters
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), *blocks,
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


def _mobilenet(nn):
    def bn_relu6(c):
        return [nn.BatchNorm2d(c), nn.ReLU6()]
    layers = [nn.Conv2d(1, 32, 3, padding=1, bias=False), *bn_relu6(32)]
    channels = 32
    for filters, stride in ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1)):
        layers += [nn.Conv2d(channels, channels, 3, stride, 1, groups=channels, bias=False),
                   *bn_relu6(channels), nn.Conv2d(channels, filters, 1, bias=False),
                   *bn_relu6(filters)]
        channels = filters
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(256, 10))
