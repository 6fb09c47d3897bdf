"""Issue 12, case 1 (and the library half of case 4): model files that are crafted or careless.

``Sequential.load`` used to build every layer the file named and read every array before
checking anything: a 1 KB file describing two Linear(20000, 20000) filled 12 GB, a small
zip bomb took gigabytes, and odd architectures crashed with AttributeError,
RecursionError or TypeError. Each case below is crafted here and must now give a
ValueError that names the problem, with bounded memory for the two bombs (measured in a
fresh process). ``Sequential.save`` must keep the usual file mode, refuse to replace a
file when asked to, and leave nothing behind when the disk is full.
"""
import errno
import io
import json
import os
import stat
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

from cnnlib import modelfile
from cnnlib.model import Sequential, build_lenet, build_seed_net
from cnnlib.modelfile import MAX_ARCHITECTURE_CHARS, MAX_JSON_DEPTH, MAX_LAYERS, MAX_PARAMETERS

from conftest import ROOT

MEMORY_LIMIT = 100 * 2**20   # bytes: what loading a crafted file may cost at most


def npy_bytes(array):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def architecture(layers, **extra):
    spec = {"format": "cnnlib.Sequential", "version": 1, "layers": layers, **extra}
    return json.dumps(spec)


def write_model(path, arch_text, arrays=None, *, raw_entries=None):
    """A model file made by hand: the architecture string, ``param/...`` arrays, raw entries."""
    with zipfile.ZipFile(path, "w") as zf:
        if arch_text is not None:
            zf.writestr("architecture.npy", npy_bytes(np.array(arch_text)))
        for name, array in (arrays or {}).items():
            zf.writestr(f"param/{name}.npy", npy_bytes(array))
        for name, content in (raw_entries or {}).items():
            zf.writestr(name, content)
    return path


LINEAR_2_3 = [{"type": "Linear", "config": {"in_features": 2, "out_features": 3}}]
GOOD_ARRAYS = {"0.w": np.zeros((2, 3), np.float32), "0.b": np.zeros(3, np.float32)}


def test_a_hand_made_file_within_the_rules_loads(tmp_path):
    """The crafting helpers make files that load, so every refusal below is for its one defect."""
    loaded = Sequential.load(write_model(tmp_path / "ok.npz", architecture(LINEAR_2_3), GOOD_ARRAYS))
    assert repr(loaded[0]) == "Linear(2→3)" and loaded[0].params["w"].dtype == np.float32


def test_big_endian_weights_load_in_native_order(tmp_path):
    arrays = {"0.w": np.arange(6, dtype=">f8").reshape(2, 3), "0.b": np.ones(3, dtype=">f8")}
    loaded = Sequential.load(write_model(tmp_path / "be.npz", architecture(LINEAR_2_3), arrays))
    assert loaded[0].params["w"].dtype == np.dtype("float64") and loaded[0].params["w"].dtype.isnative
    np.testing.assert_array_equal(loaded[0].params["w"], np.arange(6).reshape(2, 3))


@pytest.mark.parametrize("arch_text, words", [
    ("[]", "should be a JSON object, got list"),
    ('"cnnlib"', "should be a JSON object, got str"),
    ("[" * 30000 + "]" * 30000, f"nested more than {MAX_JSON_DEPTH} levels deep"),
    (architecture([{"type": "ReLU", "config": {"a": {"b": {}}}}]), f"nested more than {MAX_JSON_DEPTH} levels"),
    ("{not json", "not valid JSON"),
    (architecture([]), f"'layers' should be a list of 1 to {MAX_LAYERS} layers, got 0 layers"),
    (architecture({"0": "ReLU"}), "'layers' should be a list of 1 to 64 layers, got a dict"),
    (architecture([{"type": "ReLU", "config": {}}] * (MAX_LAYERS + 1)), "got 65 layers"),
    (architecture(LINEAR_2_3, extra="x"), "keys are ['extra', 'format', 'layers', 'version']"),
    (json.dumps({"format": "cnnlib.Sequential", "layers": LINEAR_2_3}), "keys are ['format', 'layers']"),
    (architecture(LINEAR_2_3).replace('"version": 1', '"version": 2'), "format version 2"),
    (architecture(LINEAR_2_3).replace('"version": 1', '"version": true'), "format version True"),
    (architecture([{"type": "Linear", "config": {"in_features": "2", "out_features": 3}}]),
     "layer 0 (Linear): in_features should be an integer, got '2'"),
    (architecture([{"type": "Linear", "config": {"in_features": 2.0, "out_features": 3}}]),
     "in_features should be an integer, got '2.0'"),
    (architecture([{"type": "Linear", "config": {"in_features": True, "out_features": 3}}]),
     "in_features should be an integer, got 'True'"),
    (architecture([{"type": "Linear", "config": {"in_features": 0, "out_features": 3}}]),
     "in_features = 0 is outside the allowed range 1..100000"),
    (architecture([{"type": "Conv2d", "config": {"in_channels": 1, "out_channels": 8, "kernel_size": 3,
                                                  "stride": 1, "padding": -1}}]),
     "padding = -1 is outside the allowed range 0..32"),
    (architecture([{"type": "Linear", "config": {"in_features": 2}}]),
     "layer 0 (Linear) has config ['in_features'], expected ['in_features', 'out_features']"),
    (architecture([{"type": "Linear", "config": {"in_features": 2, "out_features": 3, "rng": 0}}]),
     "has config ['in_features', 'out_features', 'rng']"),
    (architecture([{"type": "Linear", "config": [2, 3]}]), "has config list"),
    (architecture([{"type": "LayerNorm", "config": {}}]), "layer 0 has type 'LayerNorm'; known types: Conv2d"),
    (architecture([{"type": "__class__", "config": {}}]), "layer 0 has type '__class__'"),
    (architecture(["ReLU"]), "layer 0 should be an object with keys 'type' and 'config'"),
    (architecture([{"type": "ReLU"}]), "layer 0 should be an object with keys 'type' and 'config'"),
    ('{"format": "cnnlib.Sequential", "format": "x", "version": 1, "layers": []}', "appears twice"),
    (architecture([{"type": "Linear", "config": {"in_features": 2, "out_features": 3}}]).replace("3}", "NaN}"),
     "NaN is not a number JSON allows"),
], ids=["empty-list", "string", "deep-list", "deep-config", "not-json", "no-layers", "layers-dict",
        "too-many-layers", "unknown-key", "missing-key", "version-2", "version-bool", "string-param",
        "float-param", "bool-param", "zero-size", "negative-padding", "missing-config-key",
        "unknown-config-key", "config-list", "unknown-type", "dunder-type", "layer-string",
        "layer-no-config", "duplicate-key", "nan-constant"])
def test_bad_architectures_are_refused_with_the_problem_named(tmp_path, arch_text, words):
    path = write_model(tmp_path / "m.npz", arch_text, GOOD_ARRAYS)
    with pytest.raises(ValueError) as error:
        Sequential.load(path)
    assert words in str(error.value) and str(path) in str(error.value)


def test_an_architecture_longer_than_the_limit_is_refused_before_it_is_parsed(tmp_path):
    long_text = architecture(LINEAR_2_3, padding="x" * (MAX_ARCHITECTURE_CHARS + 10))
    with pytest.raises(ValueError, match=f"more than the {MAX_ARCHITECTURE_CHARS:,} allowed"):
        Sequential.load(write_model(tmp_path / "long.npz", long_text, GOOD_ARRAYS))


def test_an_architecture_that_is_not_a_string_is_refused(tmp_path):
    path = write_model(tmp_path / "m.npz", None, GOOD_ARRAYS,
                       raw_entries={"architecture.npy": npy_bytes(np.zeros(3))})
    with pytest.raises(ValueError, match=r"should be one string, got an array of dtype float64 and shape \(3,\)"):
        Sequential.load(path)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.complex128, np.float16, np.uint8, np.bool_])
def test_weights_other_than_float32_or_float64_are_refused(tmp_path, dtype):
    arrays = {"0.w": np.zeros((2, 3), dtype), "0.b": np.zeros(3, dtype)}
    with pytest.raises(ValueError, match=r"parameter 0\.[wb] of Linear\(2→3\) has dtype .*float32 or float64 "
                                         r"weights only"):
        Sequential.load(write_model(tmp_path / "m.npz", architecture(LINEAR_2_3), arrays))


def test_mixed_float_dtypes_are_refused(tmp_path):
    arrays = {"0.w": np.zeros((2, 3), np.float32), "0.b": np.zeros(3, np.float64)}
    with pytest.raises(ValueError, match=r"mix the dtypes \['float32', 'float64'\]"):
        Sequential.load(write_model(tmp_path / "m.npz", architecture(LINEAR_2_3), arrays))


def test_unknown_and_missing_arrays_are_refused(tmp_path):
    extra = {**GOOD_ARRAYS, "0.extra": np.zeros(1, np.float32)}
    with pytest.raises(ValueError, match=r"unknown entries \['param/0.extra.npy'\]"):
        Sequential.load(write_model(tmp_path / "extra.npz", architecture(LINEAR_2_3), extra))
    with pytest.raises(ValueError, match=r"unknown entries \['notes.txt'\]"):
        Sequential.load(write_model(tmp_path / "notes.npz", architecture(LINEAR_2_3), GOOD_ARRAYS,
                                    raw_entries={"notes.txt": b"hello"}))
    with pytest.raises(ValueError, match=r"parameters \['0.b'\] of the architecture are missing"):
        Sequential.load(write_model(tmp_path / "missing.npz", architecture(LINEAR_2_3),
                                    {"0.w": GOOD_ARRAYS["0.w"]}))


def test_a_declared_size_that_does_not_match_the_header_is_refused(tmp_path):
    padded = npy_bytes(np.zeros(3, np.float32)) + bytes(8)      # the header says 12 bytes of data, 20 follow
    path = write_model(tmp_path / "m.npz", architecture(LINEAR_2_3), {"0.w": GOOD_ARRAYS["0.w"]},
                       raw_entries={"param/0.b.npy": padded})
    with pytest.raises(ValueError, match=r"parameter 0.b declares .* bytes, but its shape \(3,\) and dtype "
                                         r"float32 need"):
        Sequential.load(path)


def test_a_corrupt_npy_header_is_refused(tmp_path):
    path = write_model(tmp_path / "m.npz", architecture(LINEAR_2_3), {"0.w": GOOD_ARRAYS["0.w"]},
                       raw_entries={"param/0.b.npy": b"\x93NUMPY\x01\x00" + b"\x10\x00" + b"{'descr': 1}    "})
    with pytest.raises(ValueError, match="parameter 0.b is not a valid .npy array"):
        Sequential.load(path)


def test_nan_weights_are_refused(tmp_path):
    arrays = {"0.w": np.full((2, 3), np.nan, np.float32), "0.b": np.zeros(3, np.float32)}
    with pytest.raises(ValueError, match="parameter 0.w contains NaN or infinity"):
        Sequential.load(write_model(tmp_path / "m.npz", architecture(LINEAR_2_3), arrays))


def test_an_oversized_file_is_refused_unopened(tmp_path, monkeypatch):
    path = write_model(tmp_path / "m.npz", architecture(LINEAR_2_3), GOOD_ARRAYS)
    monkeypatch.setattr(modelfile, "MAX_FILE_BYTES", 100)
    with pytest.raises(ValueError, match="more than a cnnlib model file of at most"):
        Sequential.load(path)


# ---------------------------------------------------------------------------- the two bombs

LOAD_AND_MEASURE = textwrap.dedent("""
    import json, resource, sys, tracemalloc
    from cnnlib.model import Sequential
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    try:
        Sequential.load(sys.argv[1])
        outcome = "loaded"
    except ValueError as error:
        outcome = "ValueError: " + str(error)
    peak = tracemalloc.get_traced_memory()[1]
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024   # KiB on Linux
    print(json.dumps({"outcome": outcome, "traced_peak": peak, "rss_growth": grown}))
""")


def load_in_a_fresh_process(path):
    """Load ``path`` in a new Python; returns its outcome and the memory it took."""
    done = subprocess.run([sys.executable, "-c", LOAD_AND_MEASURE, str(path)], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_tiny_file_describing_huge_layers_is_refused_with_little_memory(tmp_path):
    huge = [{"type": "Linear", "config": {"in_features": 20000, "out_features": 20000}}] * 2
    path = write_model(tmp_path / "huge.npz", architecture(huge))
    assert path.stat().st_size < 2000
    result = load_in_a_fresh_process(path)
    assert result["outcome"].startswith("ValueError") and f"more than the {MAX_PARAMETERS:,}" in result["outcome"]
    assert "800,040,000 parameters" in result["outcome"]
    assert result["traced_peak"] < MEMORY_LIMIT and result["rss_growth"] < MEMORY_LIMIT, result


def zip_bomb(path, entry, header, n_zero_bytes, good_arrays):
    """A valid model file plus one deflated entry: ``header`` and then ``n_zero_bytes`` zeros."""
    write_model(path, architecture(LINEAR_2_3), good_arrays)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        with zf.open(entry, "w", force_zip64=True) as f:
            f.write(header)
            block = bytes(1 << 20)
            for _ in range(n_zero_bytes >> 20):
                f.write(block)
    return path


def npy_header(shape, descr="<f4"):
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


BOMB_BYTES = 256 << 20       # 256 MB of zeros, deflated to about 1 MB


@pytest.mark.parametrize("where", ["in-a-parameter", "under-an-unknown-name", "behind-a-small-header"])
def test_a_zip_bomb_is_refused_without_being_inflated(tmp_path, where):
    whole = npy_header((BOMB_BYTES // 4,))                      # a header that asks for all 256 MB
    if where == "in-a-parameter":
        path = zip_bomb(tmp_path / "bomb.npz", "param/0.b.npy", whole, BOMB_BYTES, {"0.w": GOOD_ARRAYS["0.w"]})
        words = "parameter 0.b of Linear(2→3) has shape (67108864,), expected (3,)"
    elif where == "under-an-unknown-name":
        path = zip_bomb(tmp_path / "bomb.npz", "param/zzz.npy", whole, BOMB_BYTES, GOOD_ARRAYS)
        words = "unknown entries ['param/zzz.npy']"
    else:                                                       # the right header, then 256 MB more
        path = zip_bomb(tmp_path / "bomb.npz", "param/0.b.npy", npy_header((3,)), BOMB_BYTES,
                        {"0.w": GOOD_ARRAYS["0.w"]})
        words = "parameter 0.b declares 268,435,"
    assert path.stat().st_size < 3 * 2**20
    result = load_in_a_fresh_process(path)
    assert result["outcome"].startswith("ValueError") and words in result["outcome"], result
    assert result["traced_peak"] < MEMORY_LIMIT and result["rss_growth"] < MEMORY_LIMIT, result


def test_a_real_model_loads_within_a_small_multiple_of_its_size(tmp_path):
    # Big enough (8 MB of weights) that the bound is about the weights, not about the few MB
    # that imports and zip handling cost whatever the model (2.5 MB with NumPy 2.5 on 3.12).
    from cnnlib.layers import Linear
    path = tmp_path / "big.npz"
    model = Sequential(Linear(2000, 500, rng=0))
    model.save(path)
    size = sum(p.nbytes for _, p in model.named_parameters())  # float64: 1,000,500 * 8 bytes
    result = load_in_a_fresh_process(path)
    assert result["outcome"] == "loaded"
    # the layer built (weights and gradients) and the array read: about 3x, plus imports
    assert result["traced_peak"] < 4 * size + 4 * 2**20, (result, size)


# ---------------------------------------------------------------------------- save

def current_umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_save_gives_a_new_file_the_usual_mode(tmp_path, mask):
    old = os.umask(mask)
    try:
        build_seed_net(rng=0).save(tmp_path / "m.npz")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "m.npz").stat().st_mode) == 0o666 & ~mask


def test_save_over_a_file_keeps_its_mode_and_overwrite_false_refuses(tmp_path):
    path = tmp_path / "m.npz"
    path.write_text("my notes")
    path.chmod(0o640)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        build_seed_net(rng=0).save(path, overwrite=False)
    assert path.read_text() == "my notes" and os.listdir(tmp_path) == ["m.npz"]
    build_seed_net(rng=0).save(path)                            # overwrite=True is the default
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert repr(Sequential.load(path)) == repr(build_seed_net(rng=0))


def test_save_with_overwrite_false_does_not_replace_a_file_that_appears_meanwhile(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    real_savez = np.savez

    def savez_while_someone_writes(f, **arrays):
        path.write_text("written by someone else meanwhile")
        real_savez(f, **arrays)

    monkeypatch.setattr(np, "savez", savez_while_someone_writes)
    with pytest.raises(FileExistsError):
        build_seed_net(rng=0).save(path, overwrite=False)
    assert path.read_text() == "written by someone else meanwhile" and os.listdir(tmp_path) == ["m.npz"]


def test_a_full_disk_leaves_the_old_file_and_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    path.write_text("the previous model")

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    model = build_seed_net(rng=0)
    weights = model[0].params["w"].copy()
    monkeypatch.setattr(np, "savez", no_space)
    with pytest.raises(OSError) as error:
        model.save(path)
    assert error.value.errno == errno.ENOSPC
    assert path.read_text() == "the previous model" and os.listdir(tmp_path) == ["m.npz"]
    np.testing.assert_array_equal(model[0].params["w"], weights)   # the model itself is intact


def test_the_load_limits_know_every_layer_type_and_its_saved_config():
    """A new layer type or constructor argument must be added to LAYER_CONFIG_LIMITS too."""
    from cnnlib.layers import LAYER_TYPES
    from cnnlib.modelfile import LAYER_CONFIG_LIMITS
    assert set(LAYER_CONFIG_LIMITS) == set(LAYER_TYPES)
    examples = {"Conv2d": dict(in_channels=2, out_channels=3, kernel_size=3), "Linear": dict(in_features=2,
                                                                                            out_features=3),
                "BatchNorm2d": dict(num_features=3)}
    for name, cls in LAYER_TYPES.items():
        layer = cls(**examples.get(name, {}))
        assert set(layer.config()) == set(LAYER_CONFIG_LIMITS[name]), name
        model = Sequential(layer)
        assert modelfile._count_parameters(name, layer.config()) == model.n_params, name
