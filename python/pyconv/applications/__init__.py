"""The model zoo: classic CNN architectures as functional pyconv models, sized
for 28x28 or 32x32 inputs (fcn8s and unet: sides that are multiples of 8,
as 32x32). Every builder takes `input_shape` and `num_classes` (segmentation
builders: `num_classes` output channels, sigmoid for one class) and returns
an uncompiled pyconv.Model.

    model = pyconv.applications.resnet20(input_shape=(32, 32, 3), num_classes=10)
"""

from .classic import alexnet, lenet5, vgg
from .densenet import densenet
from .inception import inception
from .mobile import efficientnet, mobilenet
from .resnet import resnet20, se_resnet20
from .segmentation import deeplab, fcn8s, segnet, unet

CLASSIFIERS = {
    "lenet5": lenet5, "alexnet": alexnet, "vgg": vgg, "inception": inception,
    "resnet20": resnet20, "densenet": densenet, "se_resnet20": se_resnet20,
    "mobilenet": mobilenet, "efficientnet": efficientnet,
}
SEGMENTERS = {"fcn8s": fcn8s, "unet": unet, "segnet": segnet, "deeplab": deeplab}

__all__ = ["CLASSIFIERS", "SEGMENTERS", *CLASSIFIERS, *SEGMENTERS]
