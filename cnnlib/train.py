"""Training: images to inputs, minibatches, and a small :class:`Trainer`.

The contract
------------
* :func:`to_input` turns uint8 images ``(N, 28, 28)`` into float32 inputs
  ``(N, 1, 28, 28)`` in ``[0, 1]``.
* :func:`iterate_minibatches` yields ``(xb, yb)`` pairs that cover every example exactly
  once per pass, in an order drawn from the ``rng`` it is given (and from nothing else).
* ``Trainer(model, optimizer)`` runs the loop ``forward -> loss -> backward -> step``.
  Drive it one batch at a time with :meth:`Trainer.train_step`, one step at a time with
  the generator :meth:`Trainer.steps` (what a dashboard with pause/resume wants), or
  whole epochs with :meth:`Trainer.fit`.
* Precision follows the model: each batch is cast to the dtype of the model's first
  parameter. We train in float32, so build the model with ``.astype(np.float32)``; the
  Trainer never converts the model itself (a float64 model trains in float64, about
  1.6x slower, which gradient-check lessons may want).
* All shuffling comes from the Trainer's own ``rng``: the same seeds for the model and
  the Trainer give the same numbers on every run.
* ``Trainer(..., augment=Augment(rng=0))`` (:mod:`cnnlib.augment`, or any function of a
  batch) changes every training batch on the fly, a fresh draw each time; evaluation data is
  never augmented, and the caller's arrays are never written to (the augmentation gets a
  read-only view, so one that would work in place fails loudly instead).
* Modes: a model with ``train()`` / ``eval()`` (``Sequential``) trains in training mode and
  is evaluated in evaluation mode (BatchNorm2d's running statistics, no dropout); each
  Trainer method puts the model back in the mode it found it in.
* When the numbers blow up (a learning rate far too large), training stops with
  :class:`TrainingDiverged`, a ``ValueError`` that says at which step.
* :func:`progress_bar` is cnnlib's one progress bar (the Trainer, the CLI and the MNIST
  download all use it): tqdm is imported only when a bar is shown; matplotlib never is.
"""
import contextlib
import math
import time

import numpy as np

from cnnlib.init import as_rng
from cnnlib.losses import SoftmaxCrossEntropy
from cnnlib.ops import check_int

__all__ = ["to_input", "iterate_minibatches", "accuracy", "Trainer", "TrainingDiverged",
           "cosine_schedule", "step_schedule", "format_epoch", "progress_bar", "write_line"]

PIXEL_MAX = 255.0  # uint8 images hold 0 (background) .. 255 (ink)
# What cnnlib's layers and loss say when a number is not finite (see layers.Layer._check_input).
NONFINITE_WORDS = "NaN or infinity"


# ---------------------------------------------------------------------------- progress

class _NoBar:
    """Stands in for a tqdm bar when progress is off or tqdm is not installed: does nothing."""

    def update(self, n=1):
        pass

    def set_postfix(self, *args, **kwargs):
        pass

    def set_postfix_str(self, *args, **kwargs):
        pass

    def set_description_str(self, *args, **kwargs):
        pass

    def reset(self, total=None):
        pass

    def close(self):
        pass


def progress_bar(total, desc, *, unit="batch", enabled=True, **options):
    """A transient progress bar: tqdm's (a widget in notebooks), or one that shows nothing.

    Parameters
    ----------
    total : int or None
        Units expected (None when unknown, e.g. a download without a length).
    desc : str
        The bar's label.
    unit : str, default "batch"
        What one ``update(1)`` counts; ``"B"`` adds binary prefixes (KiB, MiB).
    enabled : bool, default True
        False gives the silent stand-in (as does a missing tqdm).
    **options
        Passed on to tqdm (``file=``, ``mininterval=``, ...).

    Returns
    -------
    An object with ``update``, ``set_postfix``, ``set_postfix_str``,
    ``set_description_str``, ``reset(total=)`` and ``close``.

    >>> bar = progress_bar(10, "epoch 1", enabled=False)
    >>> bar.update(3); bar.close()
    """
    if not enabled:
        return _NoBar()
    try:
        from tqdm.auto import tqdm  # imported here so that `import cnnlib` stays light
    except ImportError:
        return _NoBar()
    if unit == "B":
        options = {"unit_scale": True, "unit_divisor": 1024, **options}
    return tqdm(total=total, desc=desc, unit=unit, leave=False, dynamic_ncols=True, **options)


def write_line(line, file=None):
    """Print a line without breaking a live tqdm bar (to ``file``, default stdout)."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        print(line, file=file, flush=True)
    else:
        tqdm.write(line, file=file)


class TrainingDiverged(ValueError):
    """The network's numbers became NaN or infinite: usually a learning rate far too large.

    Attributes
    ----------
    epoch : int
        The epoch in progress (1-based).
    step : int
        The training step (1-based, counted over the whole run) that met the first
        non-finite number.
    lr : float
        The learning rate at that step.
    """

    def __init__(self, message, *, epoch, step, lr):
        super().__init__(message)
        self.epoch, self.step, self.lr = epoch, step, lr


# ---------------------------------------------------------------------------- data helpers

def to_input(images, dtype=np.float32):
    """uint8 images -> network input: add the channel axis and scale to ``[0, 1]``.

    Parameters
    ----------
    images : ndarray, uint8, (N, H, W) or (N, 1, H, W)
        Raw images as :func:`cnnlib.data.load_mnist` returns them (0-255).
    dtype : floating dtype, default float32
        We train in float32; gradient checks want float64.

    Returns
    -------
    ndarray, ``dtype``, (N, 1, H, W), values in ``[0, 1]``.

    Examples
    --------
    >>> images = np.zeros((2, 28, 28), dtype=np.uint8)
    >>> images[0, 0, 0] = 255
    >>> x = to_input(images)
    >>> x.shape, x.dtype, float(x.max())
    ((2, 1, 28, 28), dtype('float32'), 1.0)
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        hint = (" They look converted already; pass the raw uint8 images from load_mnist()."
                if np.issubdtype(images.dtype, np.floating) else "")
        raise ValueError(f"to_input: expected uint8 images (0-255), got dtype {images.dtype}.{hint}")
    if not np.issubdtype(np.dtype(dtype), np.floating):
        raise ValueError(f"to_input: dtype must be a floating type such as np.float32, got {np.dtype(dtype)}")
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.ndim != 3:
        hint = " For a single image use images[None]." if images.ndim == 2 else ""
        raise ValueError(f"to_input: expected images of shape (N, H, W) or (N, 1, H, W), "
                         f"got shape {images.shape}.{hint}")
    if images.shape[0] == 0:
        raise ValueError("to_input: got no images (shape (0, ...))")
    x = images.astype(dtype)[:, None]  # (N, 1, H, W)
    x /= PIXEL_MAX
    return x


def _check_pair(owner, x, y):
    x, y = np.asarray(x), np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{owner}: expected labels of shape (N,), got shape {y.shape}")
    if x.ndim == 0 or len(x) != len(y):
        raise ValueError(f"{owner}: x has {len(x) if x.ndim else 0} examples (shape {x.shape}) but y has "
                         f"{len(y)} labels; they must match one to one")
    if len(y) == 0:
        raise ValueError(f"{owner}: got no examples")
    return x, y


def _check_batch_size(owner, batch_size):
    return check_int(f"{owner}: batch_size", batch_size, 1)


def iterate_minibatches(x, y, batch_size, rng=None, shuffle=True):
    """Yield ``(xb, yb)`` batches covering every example exactly once.

    Parameters
    ----------
    x : ndarray, (N, ...)
    y : ndarray, (N,)
    batch_size : int
        The last batch holds the ``N % batch_size`` left-over examples, if any.
    rng : np.random.Generator, int or None
        Source of the shuffle (see :func:`cnnlib.init.as_rng`).
    shuffle : bool, default True
        False keeps the original order (for evaluation).

    Examples
    --------
    >>> x, y = np.arange(10).reshape(5, 2), np.arange(5)
    >>> [yb.tolist() for _, yb in iterate_minibatches(x, y, 2, shuffle=False)]
    [[0, 1], [2, 3], [4]]
    >>> sorted(int(i) for _, yb in iterate_minibatches(x, y, 2, rng=0) for i in yb)
    [0, 1, 2, 3, 4]
    """
    x, y = _check_pair("iterate_minibatches", x, y)
    batch_size = _check_batch_size("iterate_minibatches", batch_size)
    n = len(y)
    order = as_rng(rng).permutation(n) if shuffle else None
    for start in range(0, n, batch_size):
        if order is None:
            yield x[start:start + batch_size], y[start:start + batch_size]
        else:
            idx = order[start:start + batch_size]
            yield x[idx], y[idx]


def accuracy(logits, labels):
    """Fraction of rows whose largest logit is at the true label.

    >>> accuracy(np.array([[2.0, 1.0], [0.0, 3.0], [5.0, 4.0]]), np.array([0, 1, 1]))
    0.6666666666666666
    """
    logits, labels = np.asarray(logits), np.asarray(labels)
    if logits.ndim != 2 or labels.shape != (logits.shape[0],):
        raise ValueError(f"accuracy: expected logits (N, K) and labels (N,), got shapes "
                         f"{logits.shape} and {labels.shape}")
    if len(labels) == 0:
        raise ValueError("accuracy: got no examples")
    return float(np.mean(logits.argmax(axis=1) == labels))


# ---------------------------------------------------------------------------- schedules

def cosine_schedule(lr, epochs, final_lr=0.0):
    """Cosine decay from ``lr`` to ``final_lr`` over ``epochs``: a function of the epoch.

    Notes
    -----
    .. math:: \\eta(t) = \\eta_{end} + \\tfrac12 (\\eta_0 - \\eta_{end})(1 + \\cos(\\pi t / T))

    ``t`` is the (fractional) number of epochs done so far, so the rate falls smoothly
    within each epoch, and stays at ``final_lr`` after ``T = epochs``.

    >>> schedule = cosine_schedule(0.1, epochs=4)
    >>> [round(schedule(t), 4) for t in (0, 1, 2, 4, 5)]
    [0.1, 0.0854, 0.05, 0.0, 0.0]
    """
    if epochs <= 0:
        raise ValueError(f"cosine_schedule: epochs must be positive, got {epochs}")

    def schedule(t):
        t = min(max(float(t), 0.0), epochs)
        return final_lr + 0.5 * (lr - final_lr) * (1 + math.cos(math.pi * t / epochs))
    return schedule


def step_schedule(lr, every, gamma=0.1):
    """Multiply ``lr`` by ``gamma`` after every ``every`` epochs.

    >>> schedule = step_schedule(0.1, every=2, gamma=0.5)
    >>> [schedule(t) for t in (0, 1.5, 2, 4.2)]
    [0.1, 0.1, 0.05, 0.025]
    """
    if every <= 0:
        raise ValueError(f"step_schedule: every must be positive, got {every}")
    return lambda t: lr * gamma ** math.floor(float(t) / every)


def format_epoch(info):
    """One line for an epoch's numbers (what fit's progress mode and the CLI print).

    >>> format_epoch({"epoch": 2, "epochs": 5, "loss": 0.1234, "train_acc": 0.9612,
    ...               "val_loss": 0.1, "val_acc": 0.97, "seconds": 7.25})
    'epoch 2/5  loss 0.1234  train acc 0.9612  val loss 0.1000  val acc 0.9700  7.2 s'
    """
    total = f"/{info['epochs']}" if info.get("epochs") else ""
    line = f"epoch {info['epoch']}{total}  loss {info['loss']:.4f}  train acc {info['train_acc']:.4f}"
    if info.get("val_acc") is not None and not math.isnan(info["val_acc"]):
        line += f"  val loss {info['val_loss']:.4f}  val acc {info['val_acc']:.4f}"
    return line + f"  {info['seconds']:.1f} s"


# ---------------------------------------------------------------------------- the trainer

HISTORY_KEYS = ("epoch", "loss", "train_acc", "val_loss", "val_acc", "seconds")


class Trainer:
    """Trains a model with minibatch gradient descent.

    Parameters
    ----------
    model : Sequential (anything with ``forward``, ``backward(dout, input_grad=)``, ``layers``)
    optimizer : cnnlib.optim.SGD or Adam, built on ``model``
    loss_fn : default ``SoftmaxCrossEntropy()``
    rng : np.random.Generator, int or None, default 0
        The only source of the shuffling order.
    augment : callable or None, default None
        ``augment(xb) -> xb'`` applied to every training batch ``(N, C, H, W)`` before its
        step, e.g. :class:`cnnlib.augment.Augment` (which has its own seeded ``rng``). It
        must return a new array of the same shape; evaluation data is never augmented.

    Attributes
    ----------
    epoch : int
        Epochs completed (fit and steps both count them; epochs are numbered from 1).
    global_step : int
        Training steps taken so far.

    Three ways to drive it
    ----------------------
    * ``trainer.train_step(xb, yb)`` trains on one batch you chose.
    * ``for info in trainer.steps(x, y, batch_size): ...`` shuffles and trains one batch
      per ``next()``; a dashboard can stop asking (pause) and ask again (resume).
    * ``trainer.fit(x, y, epochs, ...)`` runs whole epochs, evaluates, and returns a history.

    Examples
    --------
    >>> from cnnlib.layers import Linear
    >>> from cnnlib.model import Sequential
    >>> from cnnlib.optim import SGD
    >>> model = Sequential(Linear(2, 2, rng=0))
    >>> trainer = Trainer(model, SGD(model, lr=0.5), rng=0)
    >>> x = np.array([[1.0, 0.0], [0.0, 1.0]] * 8); y = np.array([0, 1] * 8)
    >>> history = trainer.fit(x, y, epochs=3, batch_size=4, progress=False)
    >>> history["epoch"], history["train_acc"][-1]
    ([1, 2, 3], 1.0)
    """

    def __init__(self, model, optimizer, loss_fn=None, rng=0, augment=None):
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = SoftmaxCrossEntropy() if loss_fn is None else loss_fn
        self.rng = as_rng(rng)
        if augment is not None and not callable(augment):
            raise TypeError(f"Trainer: augment must be a function of a batch, such as "
                            f"cnnlib.augment.Augment(), or None; got {type(augment).__name__}")
        self.augment = augment
        self.epoch = 0
        self.global_step = 0
        self._stop = False

    def __repr__(self):
        return f"Trainer({self.optimizer!r}, epoch={self.epoch}, step={self.global_step})"

    # -- modes
    @contextlib.contextmanager
    def _mode(self, training):
        """Run the block with the model in training (True) or evaluation (False) mode, then
        put back the mode it was in. A model without ``train``/``eval`` is left alone."""
        model = self.model
        if not (callable(getattr(model, "train", None)) and callable(getattr(model, "eval", None))):
            yield
            return
        was = getattr(model, "training", None)
        if was is None or bool(was) != training:
            model.train() if training else model.eval()
        try:
            yield
        finally:
            if was is not None and bool(was) != training:
                model.train() if was else model.eval()

    def _augmented(self, xb):
        """The augmentation of a training batch; it sees a read-only view, never the caller's array."""
        view = xb.view()
        view.flags.writeable = False
        out = np.asarray(self.augment(view))
        if out.shape != xb.shape:
            raise ValueError(f"Trainer: augment turned a batch of shape {xb.shape} into shape {out.shape}; "
                             "it must return images of the same shape")
        return out

    # -- one batch
    def _as_model_dtype(self, xb):
        """Cast a batch to the model's parameter dtype (precision follows the model)."""
        for layer in getattr(self.model, "layers", ()):
            for p in layer.params.values():
                return xb.astype(p.dtype, copy=False) if xb.dtype != p.dtype else xb
        return xb

    def train_step(self, xb, yb):
        """One step of gradient descent on the batch ``(xb, yb)``.

        (augment ->) forward -> loss -> backward (no gradient for the input image) ->
        optimizer.step(), with the model in training mode.

        Returns
        -------
        (loss, acc) : the batch's mean loss and accuracy *before* the update, as floats.

        Raises
        ------
        TrainingDiverged
            If the loss or the network's outputs are NaN or infinite for a finite batch.
        """
        xb, yb = _check_pair("Trainer.train_step", xb, yb)
        if self.augment is not None:
            xb = self._augmented(xb)
        with self._mode(training=True):
            logits, loss = self._forward_loss(self._as_model_dtype(xb), yb)    # (N, K), float
            self.model.backward(self.loss_fn.backward(), input_grad=False)
        self.optimizer.step()
        self.global_step += 1
        return float(loss), accuracy(logits, yb)

    def evaluate(self, x, y, batch_size=1000):
        """Mean loss and accuracy over ``(x, y)``, in batches, without training.

        The model runs in evaluation mode (no augmentation either).

        Returns
        -------
        (loss, acc) : floats, each averaged over every example.
        """
        x, y = _check_pair("Trainer.evaluate", x, y)
        batch_size = _check_batch_size("Trainer.evaluate", batch_size)
        total_loss = total_correct = 0.0
        with self._mode(training=False):
            for xb, yb in iterate_minibatches(x, y, batch_size, shuffle=False):
                logits, loss = self._forward_loss(self._as_model_dtype(xb), yb, evaluating=True)
                total_loss += loss * len(yb)
                total_correct += accuracy(logits, yb) * len(yb)
        return total_loss / len(y), total_correct / len(y)

    def _forward_loss(self, xb, yb, evaluating=False):
        """(logits, loss) for a batch; non-finite numbers from a finite batch raise TrainingDiverged."""
        try:
            logits = self.model.forward(xb)
            loss = self.loss_fn.forward(logits, yb)
            if math.isfinite(loss):
                return logits, loss
            problem = f"the loss became {loss}"
        except ValueError as error:
            # A finite batch that meets NaN or infinity inside the net: the weights blew up.
            if NONFINITE_WORDS not in str(error) or not np.isfinite(xb).all():
                raise
            problem = "the network's numbers became NaN or infinite"
        lr = float(self.optimizer.lr)
        # while training, the step that failed is the next one; while evaluating, the last one
        epoch, step = (self.epoch, self.global_step) if evaluating else (self.epoch + 1, self.global_step + 1)
        where = f"after step {step}" if evaluating else f"at step {step}"
        raise TrainingDiverged(f"training diverged {where} (epoch {epoch}): {problem}; "
                               f"try a smaller learning rate than {lr:g}", epoch=epoch, step=step, lr=lr) from None

    # -- step by step
    def stop(self):
        """Ask a running :meth:`fit` to stop after the current step (e.g. from a callback)."""
        self._stop = True

    def _epoch_steps(self, x, y, batch_size, lr_schedule=None):
        """Train one epoch, yielding an info dict after every step; updates the counters."""
        n_steps = math.ceil(len(y) / batch_size)
        epoch = self.epoch + 1
        for i, (xb, yb) in enumerate(iterate_minibatches(x, y, batch_size, rng=self.rng), start=1):
            if lr_schedule is not None:
                self.optimizer.lr = float(lr_schedule(self.epoch + (i - 1) / n_steps))
            loss, acc = self.train_step(xb, yb)
            if i == n_steps:
                self.epoch = epoch
            yield {"epoch": epoch, "step": i, "steps_per_epoch": n_steps, "global_step": self.global_step,
                   "loss": loss, "acc": acc, "lr": float(self.optimizer.lr), "batch_size": len(yb)}

    def steps(self, x, y, batch_size=64, epochs=None, lr_schedule=None):
        """A generator that trains one batch per ``next()`` and yields what happened.

        Parameters
        ----------
        x, y : training inputs (N, ...) and labels (N,)
        batch_size : int
        epochs : int or None
            Stop after this many more epochs; None runs until you stop asking.
        lr_schedule : callable, optional
            ``lr_schedule(t) -> lr``, ``t`` = epochs done so far (fractional).

        Yields
        ------
        dict with ``epoch`` (1-based), ``step`` (1-based within the epoch),
        ``steps_per_epoch``, ``global_step``, ``loss``, ``acc`` (of that batch, before the
        update), ``lr`` and ``batch_size``.

        Notes
        -----
        Nothing runs between two ``next()`` calls, so pausing is simply not calling it,
        and a paused generator resumes exactly where it stopped, with the same numbers
        as an uninterrupted run. Each epoch reshuffles from the Trainer's ``rng``.

        >>> from cnnlib.layers import Linear
        >>> from cnnlib.model import Sequential
        >>> from cnnlib.optim import SGD
        >>> model = Sequential(Linear(2, 2, rng=0))
        >>> trainer = Trainer(model, SGD(model, lr=0.5))
        >>> stepper = trainer.steps(np.eye(2).repeat(5, axis=0), np.arange(2).repeat(5), batch_size=4)
        >>> [(info["epoch"], info["step"]) for info in (next(stepper) for _ in range(4))]
        [(1, 1), (1, 2), (1, 3), (2, 1)]
        """
        x, y = _check_pair("Trainer.steps", x, y)
        batch_size = _check_batch_size("Trainer.steps", batch_size)
        done = 0
        while epochs is None or done < epochs:
            yield from self._epoch_steps(x, y, batch_size, lr_schedule)
            done += 1

    # -- whole epochs
    def fit(self, x, y, epochs, batch_size=64, x_val=None, y_val=None, progress=True,
            on_step=None, on_epoch_end=None, lr_schedule=None):
        """Train for ``epochs`` epochs; evaluate on ``(x_val, y_val)`` after each.

        Parameters
        ----------
        x, y : training inputs (N, ...) (e.g. from :func:`to_input`) and labels (N,)
        epochs : int, at least 1
        batch_size : int, default 64
        x_val, y_val : optional validation data, evaluated after every epoch
        progress : bool, default True
            Show a tqdm bar during each epoch (``tqdm.auto``: a widget in notebooks; none
            if tqdm is not installed) and print :func:`format_epoch`'s line at its end.
            False prints nothing.
        on_step : callable, optional
            ``on_step(info)`` after every step, with the dict :meth:`steps` yields.
        on_epoch_end : callable, optional
            ``on_epoch_end(info)`` after every epoch, with ``epoch``, ``epochs`` (the last
            epoch number this fit call reaches), ``loss``, ``train_acc``, ``val_loss``,
            ``val_acc``, ``seconds`` and ``history`` (the history so far).
        lr_schedule : callable, optional
            ``lr_schedule(t) -> lr`` with ``t`` the epochs done so far (fractional), set
            before every step; see :func:`cosine_schedule` and :func:`step_schedule`.

        Returns
        -------
        history : dict of lists, one entry per epoch
            ``epoch`` (continuing the Trainer's count), ``loss`` and ``train_acc`` (means
            over the epoch's batches, each taken before its update), ``val_loss`` and
            ``val_acc`` (NaN without validation data) and ``seconds`` (wall time of the
            epoch, evaluation included).

        Notes
        -----
        A callback may call :meth:`stop`; fit then returns after the current step, with
        the history of the epochs completed.
        """
        x, y = _check_pair("Trainer.fit", x, y)
        epochs = check_int("Trainer.fit: epochs", epochs, 1)
        batch_size = _check_batch_size("Trainer.fit", batch_size)
        if (x_val is None) != (y_val is None):
            raise ValueError("Trainer.fit: pass both x_val and y_val, or neither")
        if x_val is not None:
            x_val, y_val = _check_pair("Trainer.fit (validation data)", x_val, y_val)
        history = {key: [] for key in HISTORY_KEYS}
        last_epoch = self.epoch + int(epochs)
        self._stop = False
        for _ in range(int(epochs)):
            start = time.perf_counter()
            bar = progress_bar(math.ceil(len(y) / batch_size), f"epoch {self.epoch + 1}/{last_epoch}",
                               enabled=progress)
            total_loss = total_correct = 0.0
            seen = 0
            try:
                for info in self._epoch_steps(x, y, batch_size, lr_schedule):
                    seen += info["batch_size"]
                    total_loss += info["loss"] * info["batch_size"]
                    total_correct += info["acc"] * info["batch_size"]
                    bar.update(1)
                    if info["step"] % 10 == 0 or info["step"] == info["steps_per_epoch"]:
                        bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{total_correct / seen:.4f}",
                                        refresh=False)
                    if on_step is not None:
                        on_step(info)
                    if self._stop:
                        break
            finally:
                bar.close()
            if self._stop and info["step"] != info["steps_per_epoch"]:
                break  # a partial epoch is not recorded
            val_loss, val_acc = self.evaluate(x_val, y_val) if x_val is not None else (math.nan, math.nan)
            row = {"epoch": self.epoch, "loss": total_loss / seen, "train_acc": total_correct / seen,
                   "val_loss": float(val_loss), "val_acc": float(val_acc),
                   "seconds": time.perf_counter() - start}
            for key in HISTORY_KEYS:
                history[key].append(row[key])
            if progress:
                write_line(format_epoch({**row, "epochs": last_epoch}))
            if on_epoch_end is not None:
                on_epoch_end({**row, "epochs": last_epoch, "history": history})
            if self._stop:
                break
        return history

