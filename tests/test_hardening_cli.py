"""Issue 12, cases 4 and 7: the CLI's --save, divergence and disk errors.

* ``--save README.md`` replaced the file with a zip (mode 0600): an existing file is now
  refused unless ``--overwrite``, and a new file gets the usual mode.
* A full disk at save time lost the trained model with a traceback: the model is now
  saved in a temporary folder instead and the message says where (exit status 4).
* ``--optimizer sgd --lr 1`` diverged into a traceback with exit 1 (documented as "data
  could not be loaded"): now one plain sentence and exit status 3.
* ``--help`` lists every exit status.
"""
import errno
import os
import re
import stat
import subprocess
import sys

import numpy as np
import pytest

from cnnlib.__main__ import EXIT_DIVERGED, EXIT_SAVE, EXIT_STATUS, EXIT_USAGE, main
from cnnlib.data import load_mnist
from cnnlib.model import Sequential
from cnnlib.train import accuracy, to_input

from conftest import ROOT

QUICK = ["train", "--model", "seed", "--epochs", "1", "--no-progress"]


def run_cli(*args, umask=None, timeout=120):
    """`python -m cnnlib ...` in a fresh process; returns (exit status, stdout, stderr)."""
    preexec = (lambda: os.umask(umask)) if umask is not None else None
    done = subprocess.run([sys.executable, "-m", "cnnlib", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout, preexec_fn=preexec)
    return done.returncode, done.stdout, done.stderr


def one_sentence(err):
    """stderr holds exactly one line, a sentence that starts with 'error:' and ends with a full stop."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and lines[0].endswith(".") and "Traceback" not in err, err
    return lines[0]


def test_divergence_ends_with_one_sentence_and_exit_status_3():
    code, out, err = run_cli(*QUICK, "--optimizer", "sgd", "--lr", "1")
    assert code == EXIT_DIVERGED == 3
    line = one_sentence(err)
    assert re.match(r"error: training diverged at step \d+ of epoch 1 \(the loss became NaN or infinite\)", line)
    assert "--lr 1" in line and "--lr 0.1" in line
    assert "RuntimeWarning" not in err and "test accuracy" not in out


def test_an_existing_file_is_refused_before_training_unless_overwrite(tmp_path):
    precious = tmp_path / "README.md"
    precious.write_text("# my notes\n")
    precious.chmod(0o644)
    code, out, err = run_cli("train", "--data", "full", "--model", "lenet", "--save", str(precious))
    assert code == EXIT_USAGE and out == ""                 # refused before any data or training
    assert f"--save {precious}: a file is already there; add --overwrite" in err
    assert precious.read_text() == "# my notes\n"

    code, out, err = run_cli(*QUICK, "--save", str(precious), "--overwrite")
    assert code == 0, err
    assert stat.S_IMODE(precious.stat().st_mode) == 0o644   # a replaced file keeps its mode
    assert repr(Sequential.load(precious)).startswith("Sequential(")
    assert sorted(os.listdir(tmp_path)) == ["README.md"]     # no temporary file left


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_a_new_model_file_gets_the_usual_mode(tmp_path, umask):
    path = tmp_path / "model.npz"
    code, _, err = run_cli(*QUICK, "--save", str(path), umask=umask)
    assert code == 0, err
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask   # 0644 / 0640, not mkstemp's 0600


def disk_full_for(monkeypatch, folders):
    """Make every save into one of ``folders`` fail as a full disk would (ENOSPC on write)."""
    import cnnlib.modelfile as modelfile
    real_mkstemp = modelfile.tempfile.mkstemp
    real_savez = np.savez
    where = {}

    def mkstemp(*args, dir=None, **kwargs):
        fd, name = real_mkstemp(*args, dir=dir, **kwargs)
        where[fd] = os.path.realpath(dir)
        return fd, name

    def savez(f, **arrays):
        if folders == "all" or where.get(f.fileno()) in folders:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_savez(f, **arrays)

    monkeypatch.setattr(modelfile.tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(np, "savez", savez)


def test_a_full_disk_at_save_time_keeps_the_model_and_says_where_it_went(tmp_path, monkeypatch, capsys):
    target = tmp_path / "model.npz"
    disk_full_for(monkeypatch, {os.path.realpath(tmp_path)})
    code = main([*QUICK, "--save", str(target)])
    out, err = capsys.readouterr()
    assert code == EXIT_SAVE == 4
    line = one_sentence(err)
    assert f"could not save the model to {target} (No space left on device); it was saved to " in line
    fallback = re.search(r"it was saved to (\S+) instead", line).group(1)
    assert os.path.basename(fallback) == "model.npz" and not fallback.startswith(str(tmp_path))
    assert os.listdir(tmp_path) == []                       # nothing half-written where we were asked
    # the model in the fallback file is the one trained: it gives the accuracy reported
    acc = float(out.strip().splitlines()[-1].split(": ")[1])
    _, (x_test, y_test) = load_mnist()
    assert round(accuracy(Sequential.load(fallback).predict(to_input(x_test)), y_test), 4) == acc
    os.unlink(fallback)
    os.rmdir(os.path.dirname(fallback))


def test_when_no_place_can_be_written_the_sentence_says_what_to_do(tmp_path, monkeypatch, capsys):
    disk_full_for(monkeypatch, "all")
    code = main([*QUICK, "--save", str(tmp_path / "model.npz")])
    line = one_sentence(capsys.readouterr().err)
    assert code == EXIT_SAVE
    assert "nor to a temporary folder (No space left on device); free some disk space" in line
    assert os.listdir(tmp_path) == []


def test_help_lists_every_exit_status():
    code, out, _ = run_cli("train", "--help")
    assert code == 0
    for status, meaning in EXIT_STATUS.items():
        assert re.search(rf"^  {status}\s+{re.escape(meaning[:30])}", out, re.MULTILINE), (status, out)
    assert "--overwrite" in out


def test_the_trainer_names_the_step_where_training_diverged():
    from cnnlib.model import build_seed_net
    from cnnlib.optim import SGD
    from cnnlib.train import Trainer, TrainingDiverged
    (x, y), _ = load_mnist()
    x = to_input(x[:256])
    model = build_seed_net(rng=0).astype(np.float32)
    trainer = Trainer(model, SGD(model, lr=1.0, momentum=0.9), rng=0)    # the CLI case above
    with np.errstate(over="ignore", invalid="ignore"), pytest.raises(TrainingDiverged) as error:
        trainer.fit(x, y[:256], epochs=5, batch_size=32, progress=False)
    assert isinstance(error.value, ValueError)              # callers that catch ValueError still do
    assert error.value.step == trainer.global_step + 1 and error.value.epoch >= 1 and error.value.lr > 0
    assert f"training diverged at step {error.value.step}" in str(error.value)
    # an ordinary mistake stays an ordinary ValueError, not a "divergence"
    with pytest.raises(ValueError) as wrong_shape:
        Trainer(model, SGD(model, lr=0.1)).train_step(x[:4, :, :20], y[:4])
    assert not isinstance(wrong_shape.value, TrainingDiverged)
