"""cnnlib.ops: hand-computed cases, the loop versions (cnnlib.explore.loops) == vectorised, and no
mutation of inputs."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from cnnlib import ops
from cnnlib.explore import loops

# ----------------------------------------------------------------------------- geometry


@pytest.mark.parametrize("size, k, s, p, expected", [
    (28, 5, 1, 0, 24), (28, 3, 1, 1, 28), (7, 3, 2, 0, 3), (7, 3, 2, 1, 4),
    (8, 2, 2, 0, 4), (9, 2, 2, 0, 4), (5, 5, 1, 0, 1), (1, 3, 1, 1, 1),
])
def test_conv_output_size_follows_pytorch(size, k, s, p, expected):
    assert ops.conv_output_size(size, k, s, p) == expected


@pytest.mark.parametrize("args, message", [
    ((4, 5, 1, 0), "smaller than the kernel"),
    ((4, 0, 1, 0), "kernel_size must be an integer >= 1, got 0"),
    ((4, 3, 0, 0), "stride must be an integer >= 1, got 0"),
    ((4, 3, 1, -1), "padding must be an integer >= 0, got -1"),
    ((4, 2.5, 1, 0), "kernel_size must be an integer >= 1, got 2.5"),
    ((4, 3, True, 0), "stride must be an integer >= 1, got True"),
])
def test_conv_output_size_rejects_bad_geometry(args, message):
    with pytest.raises(ValueError, match=message):
        ops.conv_output_size(*args)


# ----------------------------------------------------------------------------- literal cases

def test_conv_forward_literal_case_non_square_stride_and_padding():
    # x is 3x4; kernel 2x2 [[1, 2], [3, 4]]; stride 2, padding 1; bias 0.5.
    x = np.arange(1.0, 13.0).reshape(1, 1, 3, 4)
    w = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    b = np.array([0.5])
    # Padded x (5x6):            windows start at rows 0, 2 and columns 0, 2, 4
    #  0  0  0  0  0  0          (0,0): [[0,0],[0,1]] -> 4*1           = 4
    #  0  1  2  3  4  0          (0,2): [[0,0],[2,3]] -> 3*2 + 4*3     = 18
    #  0  5  6  7  8  0          (0,4): [[0,0],[4,0]] -> 3*4           = 12
    #  0  9 10 11 12  0          (2,0): [[0,5],[0,9]] -> 2*5 + 4*9     = 46
    #  0  0  0  0  0  0          (2,2): [[6,7],[10,11]] -> 6+14+30+44  = 94
    #                            (2,4): [[8,0],[12,0]] -> 8 + 36       = 44
    expected = np.array([[[[4.5, 18.5, 12.5], [46.5, 94.5, 44.5]]]])
    for forward in (loops.conv2d_forward_naive, ops.conv2d_forward):
        out, _ = forward(x, w, b, stride=2, padding=1)
        np.testing.assert_allclose(out, expected)


def test_conv_backward_literal_case():
    # One 2x2 input, 1x1 kernel of 3: out = 3x + 1; dx = 3 dout, dw = sum(x dout), db = sum(dout).
    x = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    w = np.array([[[[3.0]]]])
    dout = np.array([[[[1.0, -1.0], [2.0, 0.5]]]])
    for forward, backward in ((loops.conv2d_forward_naive, loops.conv2d_backward_naive),
                              (ops.conv2d_forward, ops.conv2d_backward)):
        _, cache = forward(x, w, np.array([1.0]))
        dx, dw, db = backward(dout, cache)
        np.testing.assert_allclose(dx, 3 * dout)
        np.testing.assert_allclose(dw, [[[[1 - 2 + 6 + 2.0]]]])
        np.testing.assert_allclose(db, [2.5])


def test_maxpool_literal_case_with_ties_routes_gradient_to_first_winner():
    x = np.array([[[[1.0, 5.0, 0.0, 0.0, 9.0],
                    [2.0, 3.0, 0.0, 0.0, 9.0],
                    [7.0, 7.0, -1.0, -2.0, 9.0],
                    [7.0, 6.0, -3.0, -1.0, 9.0]]]])   # 4x5: the last column does not fit a window
    expected_out = np.array([[[[5.0, 0.0], [7.0, -1.0]]]])
    dout = np.array([[[[10.0, 20.0], [30.0, 40.0]]]])
    expected_dx = np.zeros_like(x)
    expected_dx[0, 0, 0, 1] = 10.0    # the 5
    expected_dx[0, 0, 0, 2] = 20.0    # four tied zeros: the first in row-major order wins
    expected_dx[0, 0, 2, 0] = 30.0    # three tied sevens: the first wins
    expected_dx[0, 0, 2, 2] = 40.0    # -1 appears twice: the first wins
    for forward, backward in ((loops.maxpool2d_forward_naive, loops.maxpool2d_backward_naive),
                              (ops.maxpool2d_forward, ops.maxpool2d_backward)):
        out, cache = forward(x, kernel_size=2)
        np.testing.assert_array_equal(out, expected_out)
        np.testing.assert_array_equal(backward(dout, cache), expected_dx)


def test_avgpool_literal_case():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    expected = np.array([[[[2.5, 4.5], [10.5, 12.5]]]])
    dout = np.array([[[[4.0, 8.0], [-4.0, 0.0]]]])
    expected_dx = np.kron(dout[0, 0] / 4, np.ones((2, 2)))[None, None]
    for forward, backward in ((loops.avgpool2d_forward_naive, loops.avgpool2d_backward_naive),
                              (ops.avgpool2d_forward, ops.avgpool2d_backward)):
        out, cache = forward(x, kernel_size=2)
        np.testing.assert_allclose(out, expected)
        np.testing.assert_allclose(backward(dout, cache), expected_dx)


def test_relu_and_linear_literal_cases():
    out, mask = ops.relu_forward(np.array([[-1.0, 0.0, 2.0]]))
    np.testing.assert_array_equal(out, [[0.0, 0.0, 2.0]])
    np.testing.assert_array_equal(ops.relu_backward(np.array([[5.0, 6.0, 7.0]]), mask), [[0.0, 0.0, 7.0]])

    x = np.array([[1.0, 2.0]])
    w = np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]])
    y, cache = ops.linear_forward(x, w, np.array([0.0, 1.0, 2.0]))
    np.testing.assert_allclose(y, [[5.0, 3.0, 1.0]])
    dx, dw, db = ops.linear_backward(np.array([[1.0, 0.0, 1.0]]), cache)
    np.testing.assert_allclose(dx, [[0.0, 2.0]])
    np.testing.assert_allclose(dw, [[1.0, 0.0, 1.0], [2.0, 0.0, 2.0]])
    np.testing.assert_allclose(db, [1.0, 0.0, 1.0])


def test_sliding_windows_is_a_read_only_view_of_every_window(rng):
    x = rng.standard_normal((2, 3, 7, 6))
    for KH, KW, stride, padding in ((3, 2, 1, 0), (3, 2, 2, 1), (2, 3, 3, 2)):
        windows = ops.sliding_windows(x, KH, KW, stride=stride, padding=padding)
        H_out = ops.conv_output_size(7, KH, stride, padding)
        W_out = ops.conv_output_size(6, KW, stride, padding)
        assert windows.shape == (2, 3, H_out, W_out, KH, KW)
        xp = ops.pad2d(x, padding)
        for i, j in ((0, 0), (H_out - 1, W_out - 1), (H_out // 2, W_out - 1)):
            np.testing.assert_array_equal(windows[:, :, i, j],
                                          xp[:, :, i * stride:i * stride + KH, j * stride:j * stride + KW])
        assert not windows.flags.writeable
        every = np.lib.stride_tricks.sliding_window_view(xp, (KH, KW), axis=(2, 3))   # NumPy's own view
        np.testing.assert_array_equal(windows, every[:, :, ::stride, ::stride])
    assert np.shares_memory(ops.sliding_windows(x, 3, 2), x)           # no padding: nothing copied
    # Any strides in, the right windows out: a transposed, reversed view of another array.
    y = rng.standard_normal((6, 7, 3, 2)).transpose(3, 2, 1, 0)[:, :, ::-1]
    np.testing.assert_array_equal(ops.sliding_windows(y, 2, 3, stride=2),
                                  np.lib.stride_tricks.sliding_window_view(y, (2, 3), axis=(2, 3))[:, :, ::2, ::2])


def test_im2col_is_the_windows_view_copied_into_a_matrix(rng):
    # Lesson 2's middle step and its last step give the same matrix.
    x = rng.standard_normal((2, 3, 7, 6))
    for KH, KW, stride, padding in ((3, 2, 1, 0), (3, 2, 2, 1), (1, 1, 3, 2)):
        windows = ops.sliding_windows(x, KH, KW, stride=stride, padding=padding)   # (N, C, H_out, W_out, KH, KW)
        N, C, H_out, W_out = windows.shape[:4]
        from_view = windows.transpose(0, 1, 4, 5, 2, 3).reshape(N, C * KH * KW, H_out * W_out)
        cols = ops.im2col(x, KH, KW, stride=stride, padding=padding)
        np.testing.assert_array_equal(cols, from_view)
        # conv2d_forward's layout: the images' columns side by side, one matrix for the batch.
        batch_cols = windows.transpose(1, 4, 5, 0, 2, 3).reshape(C * KH * KW, N * H_out * W_out)
        np.testing.assert_array_equal(batch_cols, np.concatenate(list(cols), axis=1))


# ----------------------------------------------------------------------------- naive == fast

conv_cases = st.tuples(
    st.integers(1, 3), st.integers(1, 3), st.integers(1, 4),       # N, C_in, C_out
    st.integers(1, 9), st.integers(1, 9),                          # H, W
    st.integers(1, 4), st.integers(1, 4),                          # KH, KW: non-square kernels too
    st.integers(1, 3), st.integers(0, 2),                          # stride, padding
    st.integers(0, 2**16),                                         # seed
).filter(lambda c: c[3] + 2 * c[8] >= c[5] and c[4] + 2 * c[8] >= c[6])


@settings(max_examples=60, deadline=None)
@given(conv_cases)
def test_conv_naive_equals_fast(case):
    N, C_in, C_out, H, W, KH, KW, stride, padding, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C_in, H, W))
    w = rng.standard_normal((C_out, C_in, KH, KW))
    b = rng.standard_normal(C_out)
    out_naive, cache_naive = loops.conv2d_forward_naive(x, w, b, stride=stride, padding=padding)
    out_fast, cache_fast = ops.conv2d_forward(x, w, b, stride=stride, padding=padding)
    np.testing.assert_allclose(out_fast, out_naive, rtol=1e-10, atol=1e-12)
    dout = rng.standard_normal(out_naive.shape)
    fast, naive = ops.conv2d_backward(dout, cache_fast), loops.conv2d_backward_naive(dout, cache_naive)
    for name, got, expected in zip(("dx", "dw", "db"), fast, naive):
        assert got.shape == expected.shape, name
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12, err_msg=name)


pool_cases = st.tuples(
    st.integers(1, 3), st.integers(1, 3), st.integers(1, 9), st.integers(1, 9),
    st.integers(1, 3), st.one_of(st.none(), st.integers(1, 3)), st.booleans(), st.integers(0, 2**16),
).filter(lambda c: c[2] >= c[4] and c[3] >= c[4])


@settings(max_examples=40, deadline=None)
@given(pool_cases)
def test_pooling_naive_equals_fast_with_ties(case):
    N, C, H, W, k, stride, integer_values, seed = case
    rng = np.random.default_rng(seed)
    # Small integers make ties common, as the zeros after a ReLU are in real nets.
    x = rng.integers(-2, 3, (N, C, H, W)).astype(float) if integer_values else rng.standard_normal((N, C, H, W))
    pairs = ((loops.maxpool2d_forward_naive, loops.maxpool2d_backward_naive,
              ops.maxpool2d_forward, ops.maxpool2d_backward),
             (loops.avgpool2d_forward_naive, loops.avgpool2d_backward_naive,
              ops.avgpool2d_forward, ops.avgpool2d_backward))
    for fwd_naive, bwd_naive, fwd_fast, bwd_fast in pairs:
        out_naive, cache_naive = fwd_naive(x, kernel_size=k, stride=stride)
        out_fast, cache_fast = fwd_fast(x, kernel_size=k, stride=stride)
        np.testing.assert_allclose(out_fast, out_naive, rtol=1e-12)
        dout = rng.standard_normal(out_naive.shape)
        np.testing.assert_allclose(bwd_fast(dout, cache_fast), bwd_naive(dout, cache_naive), rtol=1e-12, atol=1e-14)


def test_maxpool_gradient_mass_is_conserved_with_ties():
    # Every window passes on exactly its own dout, whatever the ties: the sums agree.
    x = np.zeros((2, 3, 6, 6))                 # all tied, like a dead ReLU map
    out, cache = ops.maxpool2d_forward(x)
    dout = np.ones_like(out)
    dx = ops.maxpool2d_backward(dout, cache)
    assert dx.sum() == dout.sum()
    assert np.count_nonzero(dx) == out.size    # one winner per window


# ----------------------------------------------------------------------------- hygiene

def _all_forward_backward_calls(rng, dtype):
    x = rng.standard_normal((2, 3, 7, 5)).astype(dtype)
    w = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    fc_x = rng.standard_normal((2, 6)).astype(dtype)
    fc_w = rng.standard_normal((6, 3)).astype(dtype)
    fc_b = rng.standard_normal(3).astype(dtype)
    return [
        ("conv naive", lambda: loops.conv2d_forward_naive(x, w, b, stride=2, padding=1), loops.conv2d_backward_naive),
        ("conv fast", lambda: ops.conv2d_forward(x, w, b, stride=2, padding=1), ops.conv2d_backward),
        ("maxpool naive", lambda: loops.maxpool2d_forward_naive(x), loops.maxpool2d_backward_naive),
        ("maxpool fast", lambda: ops.maxpool2d_forward(x), ops.maxpool2d_backward),
        ("avgpool naive", lambda: loops.avgpool2d_forward_naive(x, kernel_size=3, stride=2), loops.avgpool2d_backward_naive),
        ("avgpool fast", lambda: ops.avgpool2d_forward(x, kernel_size=3, stride=2), ops.avgpool2d_backward),
        ("relu", lambda: ops.relu_forward(x), ops.relu_backward),
        ("linear", lambda: ops.linear_forward(fc_x, fc_w, fc_b), ops.linear_backward),
    ], [x, w, b, fc_x, fc_w, fc_b]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernels_never_modify_inputs_or_dout_and_keep_dtype(dtype):
    rng = np.random.default_rng(1)
    calls, inputs = _all_forward_backward_calls(rng, dtype)
    before = [a.copy() for a in inputs]
    for name, forward, backward in calls:
        out, cache = forward()
        assert out.dtype == dtype, name
        dout = rng.standard_normal(out.shape).astype(dtype)
        dout_before = dout.copy()
        grads = backward(dout, cache)
        for g in grads if isinstance(grads, tuple) else (grads,):
            assert g.dtype == dtype, name
        np.testing.assert_array_equal(dout, dout_before, err_msg=f"{name} modified dout")
    for a, b in zip(inputs, before):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("forward, backward", [(ops.conv2d_forward, ops.conv2d_backward),
                                               (loops.conv2d_forward_naive, loops.conv2d_backward_naive)],
                         ids=["fast", "naive"])
def test_conv_backward_can_skip_the_input_gradient(forward, backward, rng):
    x = rng.standard_normal((2, 1, 6, 6))
    w = rng.standard_normal((3, 1, 3, 3))
    out, cache = forward(x, w, np.zeros(3))
    dout = rng.standard_normal(out.shape)
    dx, dw, db = backward(dout, cache, input_grad=False)
    assert dx is None
    _, dw_full, db_full = backward(dout, cache)
    np.testing.assert_allclose(dw, dw_full)
    np.testing.assert_allclose(db, db_full)


@pytest.mark.parametrize("call, message", [
    (lambda: ops.conv2d_forward(np.zeros((1, 2, 5, 5)), np.zeros((3, 1, 3, 3)), np.zeros(3)), r"expected 1 input channel\(s\), got 2"),
    (lambda: ops.conv2d_forward(np.zeros((2, 5, 5)), np.zeros((3, 1, 3, 3)), np.zeros(3)), r"shape \(N, 1, H, W\)"),
    (lambda: ops.conv2d_forward(np.zeros((1, 1, 2, 5)), np.zeros((3, 1, 3, 3)), np.zeros(3)), "input 2x5 is smaller than the kernel 3x3"),
    (lambda: ops.conv2d_forward(np.zeros((1, 1, 5, 5)), np.zeros((3, 1, 3, 3)), np.zeros(3), stride=0), "stride must be an integer >= 1"),
    (lambda: ops.conv2d_forward(np.zeros((1, 1, 5, 5)), np.zeros((3, 1, 3)), np.zeros(3)), r"weights of shape \(C_out, C_in, KH, KW\)"),
    (lambda: ops.conv2d_forward(np.zeros((1, 1, 5, 5)), np.zeros((3, 1, 3, 3)), np.zeros(2)), "bias of shape"),
    (lambda: ops.conv2d_forward(np.zeros((1, 1, 5, 5), dtype=np.uint8), np.zeros((3, 1, 3, 3)), np.zeros(3)), "floating-point"),
    (lambda: ops.maxpool2d_forward(np.zeros((1, 1, 1, 5))), "smaller than the pooling window"),
    (lambda: ops.linear_forward(np.zeros((2, 5)), np.zeros((4, 3)), np.zeros(3)), r"shape \(N, 4\)"),
    (lambda: ops.linear_forward(np.zeros((2, 1, 2, 2)), np.zeros((4, 3)), np.zeros(3)), "put a Flatten"),
    (lambda: ops.maxpool2d_forward(np.zeros((1, 1, 4, 4)), kernel_size=2.0), "kernel_size must be an integer"),
])
def test_ops_reject_bad_shapes_clearly(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("name, args, kwargs", [
    ("conv2d_forward", (np.zeros((1, 2, 5, 5)), np.zeros((3, 1, 3, 3)), np.zeros(3)), {}),
    ("conv2d_forward", (np.zeros((1, 1, 2, 5)), np.zeros((3, 1, 3, 3)), np.zeros(3)), {"padding": 0}),
    ("conv2d_forward", (np.zeros((1, 1, 5, 5)), np.zeros((3, 1, 3, 3)), np.zeros(3)), {"stride": 0}),
    ("conv2d_forward", (np.zeros((1, 1, 5, 5), dtype=np.uint8), np.zeros((3, 1, 3, 3)), np.zeros(3)), {}),
    ("maxpool2d_forward", (np.zeros((1, 1, 1, 5)),), {}),
    ("maxpool2d_forward", (np.zeros((1, 1, 4, 4)),), {"kernel_size": 2.0}),
    ("avgpool2d_forward", (np.zeros((1, 4, 4)),), {}),
    ("avgpool2d_forward", (np.zeros((1, 1, 4, 4)),), {"stride": -1}),
])
def test_loop_versions_refuse_what_the_vectorised_kernels_refuse_in_the_same_words(name, args, kwargs):
    # The loops share cnnlib.ops' argument checks: the same rules, in the same words.
    with pytest.raises(ValueError) as fast:
        getattr(ops, name)(*args, **kwargs)
    with pytest.raises(ValueError) as loop:
        getattr(loops, f"{name}_naive")(*args, **kwargs)
    assert str(loop.value) == str(fast.value)


@pytest.mark.parametrize("kernels", [ops, loops], ids=["fast", "loops"])
def test_backward_rejects_dout_of_the_wrong_shape(kernels, rng):
    suffix = "_naive" if kernels is loops else ""
    conv_forward, conv_backward = (getattr(kernels, f"conv2d_{step}{suffix}") for step in ("forward", "backward"))
    out, cache = conv_forward(rng.standard_normal((1, 1, 5, 5)), rng.standard_normal((2, 1, 3, 3)), np.zeros(2))
    with pytest.raises(ValueError, match=r"dout has shape \(1, 2, 3, 4\), but the forward output had shape"):
        conv_backward(np.zeros((1, 2, 3, 4)), cache)
    pool_forward, pool_backward = (getattr(kernels, f"maxpool2d_{step}{suffix}") for step in ("forward", "backward"))
    out, cache = pool_forward(rng.standard_normal((1, 1, 4, 4)))
    with pytest.raises(ValueError, match=r"dout has shape \(1, 1, 2, 3\), but the forward output had shape"):
        pool_backward(np.zeros((1, 1, 2, 3)), cache)
