"""Keras's optimizer options: gradient clipping (clipnorm, clipvalue,
global_clipnorm, applied in the C++ step), learning-rate schedules set before
every step, learning_rate with assign, and AdamW."""

import math

import numpy as np
import pytest

import pyconv
from pyconv import layers as L
from pyconv.optimizers import schedules


def one_weight(optimizer, w=1.0):
    """loss = mean((w x - 0)^2) with x = 10: the gradient 200 w is large."""
    m = pyconv.Sequential([pyconv.Input((1,)), L.Dense(1, use_bias=False)])
    m.compile(optimizer, "mse")
    m.set_weights([np.full((1, 1), w, np.float32)])
    return m, np.full((1, 1), 10.0, np.float32), np.zeros((1, 1), np.float32)


def step(optimizer, w=1.0):
    m, x, y = one_weight(optimizer, w)
    m.train_on_batch(x, y)
    return m.get_weights()[0].item()


def test_clipping_bounds_each_step():
    sgd = pyconv.optimizers.SGD
    assert step(sgd(learning_rate=0.01)) == pytest.approx(1.0 - 0.01 * 200)
    assert step(sgd(learning_rate=0.01, clipvalue=5.0)) == pytest.approx(1.0 - 0.05)
    assert step(sgd(learning_rate=0.01, clipnorm=3.0)) == pytest.approx(1.0 - 0.03)
    assert step(sgd(learning_rate=0.01, global_clipnorm=2.0)) == pytest.approx(1.0 - 0.02)
    # global: two weights' gradients scaled together to a joint norm of 1
    m = pyconv.Sequential([pyconv.Input((2,)), L.Dense(1, use_bias=False)])
    m.compile(sgd(learning_rate=1.0, global_clipnorm=1.0), "mse")
    m.set_weights([np.zeros((2, 1), np.float32)])
    m.train_on_batch(np.array([[3.0, 4.0]], np.float32), np.array([[1.0]], np.float32))
    assert np.linalg.norm(m.get_weights()[0]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="only one of clipnorm and global_clipnorm"):
        sgd(clipnorm=1.0, global_clipnorm=1.0)
    with pytest.raises(ValueError, match="clipvalue"):
        sgd(clipvalue=-1)
    # A norm and a value: Keras clips by the norm alone (both were applied).
    with pytest.warns(UserWarning, match="clipvalue is ignored"):
        both = sgd(learning_rate=0.01, clipnorm=3.0, clipvalue=0.5)
    assert step(both) == pytest.approx(1.0 - 0.03)


def test_schedules_set_the_rate_before_each_step():
    schedule = schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    opt = pyconv.optimizers.SGD(learning_rate=schedule)
    m, x, y = one_weight(opt, w=1e-3)
    rates = []
    for _ in range(3):
        rates.append(float(opt.learning_rate))  # as in Keras: the coming step's rate
        w = float(m.get_weights()[0][0, 0])
        m.train_on_batch(x, y)
        # SGD: w -= rate * 200 w, so the step really ran at that rate.
        assert float(m.get_weights()[0][0, 0]) == pytest.approx(w - rates[-1] * 200 * w, rel=1e-5)
    assert rates == pytest.approx([0.1, 0.05, 0.025])  # 0.1 * 0.5^step
    assert float(opt.learning_rate) == pytest.approx(0.0125)
    assert opt.get_config()["learning_rate"]["class_name"] == "ExponentialDecay"
    assert schedules.PiecewiseConstantDecay([2, 5], [1.0, 0.5, 0.1])(3) == 0.5
    assert schedules.InverseTimeDecay(1.0, 1, 1.0)(3) == pytest.approx(0.25)
    assert schedules.PolynomialDecay(1.0, 10, end_learning_rate=0.0)(5) == pytest.approx(0.5)
    cosine = schedules.CosineDecay(0.0, 10, warmup_target=1.0, warmup_steps=10)
    assert cosine(5) == pytest.approx(0.5) and cosine(10) == pytest.approx(1.0)
    assert cosine(15) == pytest.approx(0.5 * (1 + math.cos(math.pi / 2)))
    with pytest.raises(ValueError, match="boundaries"):
        schedules.PiecewiseConstantDecay([1], [1.0])


def test_a_scheduled_rate_cannot_be_set_to_a_number():
    # As Keras 3: setting a number (a ReduceLROnPlateau, by hand) silently
    # ended the schedule.
    opt = pyconv.optimizers.SGD(learning_rate=schedules.ExponentialDecay(0.1, 1, 0.5))
    m, x, y = one_weight(opt, w=1e-3)
    with pytest.raises(TypeError, match="follows a LearningRateSchedule"):
        opt.learning_rate = 0.01
    with pytest.raises(TypeError, match="follows a LearningRateSchedule"):
        opt.learning_rate.assign(0.01)
    reduce = pyconv.callbacks.ReduceLROnPlateau(monitor="loss", patience=0, factor=0.5)
    with pytest.raises(TypeError, match="follows a LearningRateSchedule"):
        m.fit(x, y, epochs=3, verbose=0, callbacks=[reduce])
    assert isinstance(opt._schedule, schedules.ExponentialDecay)
    opt.learning_rate = schedules.ExponentialDecay(0.2, 1, 0.5)  # another schedule: taken
    assert float(opt.learning_rate) == pytest.approx(0.2 * 0.5 ** opt.iterations)


def test_learning_rate_assign_and_adamw():
    opt = pyconv.optimizers.Adam(learning_rate=0.01)
    m, x, y = one_weight(opt)
    opt.learning_rate.assign(0.002)
    assert float(m.optimizer.learning_rate) == pytest.approx(0.002)
    assert opt.learning_rate.numpy() == pytest.approx(0.002)
    # AdamW: Adam with Keras's default decoupled weight decay
    plain = step(pyconv.optimizers.Adam(learning_rate=0.1))
    decayed = step(pyconv.optimizers.AdamW(learning_rate=0.1))
    assert decayed == pytest.approx(plain - 0.1 * 0.004 * 1.0, abs=1e-6)
    assert isinstance(pyconv.optimizers.get("adamw"), pyconv.optimizers.AdamW)


def test_a_saved_model_keeps_its_schedule(tmp_path):
    opt = pyconv.optimizers.SGD(learning_rate=schedules.PiecewiseConstantDecay([1], [0.1, 0.01]))
    m, x, y = one_weight(opt)
    m.train_on_batch(x, y)
    m.save(tmp_path / "m.pcv")
    loaded = pyconv.models.load_model(tmp_path / "m.pcv")
    assert type(loaded.optimizer._schedule) is schedules.PiecewiseConstantDecay
    for _ in range(2):  # both go on with the schedule's rates, step for step
        assert float(loaded.optimizer.learning_rate) == float(opt.learning_rate)
        m.train_on_batch(x, y)
        loaded.train_on_batch(x, y)
        np.testing.assert_array_equal(loaded.get_weights()[0], m.get_weights()[0])
    assert float(loaded.optimizer.learning_rate) == pytest.approx(0.01)


def test_keras_optimizer_surface():
    adamw = pyconv.optimizers.AdamW(learning_rate=schedules.ExponentialDecay(0.1, 10, 0.5),
                                    weight_decay=0.01, name="mine")
    assert adamw.weight_decay == 0.01 and adamw.name == "mine"
    again = pyconv.optimizers.AdamW.from_config(adamw.get_config())
    assert again.get_config() == adamw.get_config()
    assert isinstance(again._schedule, schedules.ExponentialDecay)
    assert pyconv.optimizers.Adam().name == "adam" and pyconv.optimizers.SGD().name == "SGD"
    # Keras's base arguments: their defaults pass, anything else says why not.
    pyconv.optimizers.Adam(use_ema=False, gradient_accumulation_steps=None, loss_scale_factor=None)
    for name, value in (("use_ema", True), ("gradient_accumulation_steps", 4)):
        with pytest.raises(ValueError, match=f"do not support {name}"):
            pyconv.optimizers.Adam(**{name: value})
