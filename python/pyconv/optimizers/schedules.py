"""Learning-rate schedules with Keras's names: a schedule is called with the
optimizer's step count (iterations) and gives the rate for that step; the
model sets it before each training step."""

import math


class LearningRateSchedule:
    def __call__(self, step):
        raise NotImplementedError(f"{type(self).__name__} must define __call__(step)")

    def get_config(self):
        raise NotImplementedError

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _positive(value, name):
    if not (isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0):
        raise ValueError(f"{name} must be a positive number, received {value!r}")
    return value


class _StepDecay(LearningRateSchedule):
    """A decay of the rate by step / decay_steps (floored with staircase)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name=None):
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps = _positive(decay_steps, "decay_steps")
        self.decay_rate, self.staircase, self.name = float(decay_rate), bool(staircase), name

    def __call__(self, step):
        p = step / self.decay_steps
        return self._decayed(math.floor(p) if self.staircase else p)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class ExponentialDecay(_StepDecay):
    """initial * decay_rate ** (step / decay_steps)."""

    def _decayed(self, p):
        return self.initial_learning_rate * self.decay_rate ** p


class InverseTimeDecay(_StepDecay):
    """initial / (1 + decay_rate * step / decay_steps)."""

    def _decayed(self, p):
        return self.initial_learning_rate / (1 + self.decay_rate * p)


class PiecewiseConstantDecay(LearningRateSchedule):
    """values[i] for steps in (boundaries[i - 1], boundaries[i]]."""

    def __init__(self, boundaries, values, name=None):
        if len(values) != len(boundaries) + 1:
            raise ValueError("The length of boundaries should be 1 less than the length of values")
        self.boundaries, self.values, self.name = list(boundaries), [float(v) for v in values], name

    def __call__(self, step):
        for boundary, value in zip(self.boundaries, self.values):
            if step <= boundary:
                return value
        return self.values[-1]

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """From initial to end_learning_rate over decay_steps, along (1 - t) ** power."""

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0,
                 cycle=False, name=None):
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps = _positive(decay_steps, "decay_steps")
        self.end_learning_rate, self.power = float(end_learning_rate), float(power)
        self.cycle, self.name = bool(cycle), name

    def __call__(self, step):
        steps = self.decay_steps
        if self.cycle:
            steps = steps * max(1, math.ceil(step / steps))
        else:
            step = min(step, steps)
        t = 1 - step / steps
        return (self.initial_learning_rate - self.end_learning_rate) * t ** self.power + self.end_learning_rate

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "end_learning_rate": self.end_learning_rate, "power": self.power,
                "cycle": self.cycle, "name": self.name}


class CosineDecay(LearningRateSchedule):
    """An optional linear warmup to warmup_target over warmup_steps, then a
    cosine from there down to alpha times it over decay_steps."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name=None, warmup_target=None,
                 warmup_steps=0):
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps = _positive(decay_steps, "decay_steps")
        self.alpha, self.name = float(alpha), name
        self.warmup_target, self.warmup_steps = warmup_target, int(warmup_steps)

    def __call__(self, step):
        top = self.initial_learning_rate if self.warmup_target is None else float(self.warmup_target)
        if self.warmup_target is not None and step < self.warmup_steps:
            return self.initial_learning_rate + (top - self.initial_learning_rate) * step / self.warmup_steps
        done = min(step - (self.warmup_steps if self.warmup_target is not None else 0), self.decay_steps)
        cosine = 0.5 * (1 + math.cos(math.pi * done / self.decay_steps))
        return top * ((1 - self.alpha) * cosine + self.alpha)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "name": self.name, "warmup_target": self.warmup_target,
                "warmup_steps": self.warmup_steps}


def serialize(schedule):
    """{"class_name", "config"}, as Keras writes a schedule into an optimizer's config."""
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(config):
    """The schedule serialize() described; a class pyconv does not have
    (a user's own schedule) is a ValueError naming it."""
    cls = globals().get(config.get("class_name"))
    if not (isinstance(cls, type) and issubclass(cls, LearningRateSchedule)) \
            or cls is LearningRateSchedule or config.get("config") is None:
        raise ValueError(f"unknown learning-rate schedule {config.get('class_name')!r}: pyconv "
                         "rebuilds only its own (pyconv.optimizers.schedules); give your own "
                         "schedule to the optimizer again")
    return cls.from_config(config["config"])
