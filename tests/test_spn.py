"""seqcore.nn.spn: SPNs against brute force, region graphs, SPNFactor."""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from seqcore.nn.spn import SPN, RegionGraph
from seqcore.nn.spn_factor import SPNFactor
from tests.references.spn_brute_force import (
    binary_assignments,
    completions,
    grid_integral,
    region_graph_values,
)


def leaf(*variables):
    return (variables, [])


def random_spn(seed, num_vars, leaf_kind="bernoulli", **kwargs):
    torch.manual_seed(seed)
    # Spread parameters so that the outputs differ visibly from one another.
    spn = SPN(num_vars, leaf=leaf_kind, seed=seed, **kwargs).double()
    with torch.no_grad():
        for name, p in spn.named_parameters():
            if name.startswith("sum_logits"):
                p.normal_(0.0, 1.5)
    return spn


def explicit_graph():
    """Arity-3 and arity-2 partitions, two partitions at the root, a 2-variable leaf."""
    return RegionGraph.from_tree(
        (
            (0, 1, 2, 3),
            [
                ((0, 1, 2, 3), [leaf(0), leaf(1), ((2, 3), [((2, 3), [leaf(2), leaf(3)])])]),
                ((0, 1, 2, 3), [leaf(0, 2), ((1, 3), [((1, 3), [leaf(3), leaf(1)])])]),
            ],
        )
    )


def shared_region_graph():
    """A DAG: region 3 ({2, 3}) is a child of two partitions."""
    return RegionGraph.from_dict(
        {
            "format_version": 1,
            "num_vars": 4,
            "regions": [[0, 1, 2, 3], [0, 1], [0], [2, 3], [1], [0, 1]],
            "partitions": [
                {"region": 0, "children": [1, 3]},
                {"region": 0, "children": [5, 3]},
                {"region": 1, "children": [2, 4]},
            ],
        }
    )


spn_configs = st.fixed_dictionaries(
    {
        "num_vars": st.integers(1, 4),
        "depth": st.integers(0, 3),
        "num_repetitions": st.integers(1, 3),
        "num_sums": st.integers(1, 3),
        "num_input_distributions": st.integers(1, 3),
        "num_outputs": st.integers(1, 3),
    }
)


# --------------------------------------------------------------- Bernoulli, brute force


@settings(max_examples=25)
@given(config=spn_configs, seed=st.integers(0, 2**16))
def test_bernoulli_spn_sums_to_one_and_matches_the_node_by_node_reference(config, seed):
    spn = random_spn(seed, leaf_kind="bernoulli", **config)
    x = binary_assignments(config["num_vars"])
    log_p = spn(torch.from_numpy(x))
    assert log_p.shape == (len(x), config["num_outputs"])
    np.testing.assert_allclose(log_p.exp().sum(0).detach().numpy(), 1.0, rtol=1e-12)
    np.testing.assert_allclose(log_p.detach().numpy(), region_graph_values(spn, x), atol=1e-12)


@pytest.mark.parametrize("graph", [explicit_graph(), shared_region_graph()], ids=["tree", "dag"])
def test_explicit_structures_are_normalised_and_wired_as_described(graph):
    spn = random_spn(3, 4, "bernoulli", region_graph=graph, num_sums=2, num_outputs=2)
    x = binary_assignments(4)
    log_p = spn(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(np.exp(log_p).sum(0), 1.0, rtol=1e-12)
    np.testing.assert_allclose(log_p, region_graph_values(spn, x), atol=1e-12)


@settings(max_examples=25)
@given(config=spn_configs, seed=st.integers(0, 2**16), data=st.data())
def test_marginals_equal_sums_over_the_marginalised_variables(config, seed, data):
    spn = random_spn(seed, leaf_kind="bernoulli", **config)
    D = config["num_vars"]
    hidden = np.array(data.draw(st.lists(st.booleans(), min_size=D, max_size=D)))
    x = np.array(data.draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=D, max_size=D)))
    x_nan = np.where(hidden, np.nan, x)  # whatever marginalised entries hold is ignored
    got = spn(torch.from_numpy(x_nan)[None], marginalize=torch.from_numpy(hidden))[0]
    full = spn(torch.from_numpy(completions(x, hidden))).detach()
    np.testing.assert_allclose(got.detach(), torch.logsumexp(full, 0), atol=1e-12)
    reference = region_graph_values(spn, x[None], hidden[None])[0]
    np.testing.assert_allclose(got.detach(), reference, atol=1e-12)


@settings(max_examples=25)
@given(config=spn_configs, seed=st.integers(0, 2**16), data=st.data())
def test_mpe_value_is_the_brute_force_max_product(config, seed, data):
    spn = random_spn(seed, leaf_kind="bernoulli", **config)
    D, C = config["num_vars"], config["num_outputs"]
    observed = np.array(data.draw(st.lists(st.booleans(), min_size=D, max_size=D)))
    x = np.array(data.draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=D, max_size=D)))
    result = spn.mpe(torch.from_numpy(np.where(observed, x, np.nan))[None])
    assert result.assignment.shape == (1, C, D) and result.log_value.shape == (1, C)
    # Max over every completion of the max-product (best induced tree) value.
    brute = region_graph_values(spn, completions(x, ~observed), semiring="max").max(0)
    np.testing.assert_allclose(result.log_value[0], brute, atol=1e-12)
    for c in range(C):
        chosen = result.assignment[0, c].numpy()
        np.testing.assert_array_equal(chosen[observed], x[observed])
        assert set(np.unique(chosen)) <= {0.0, 1.0}
        # The returned completion attains the value.
        attained = region_graph_values(spn, chosen[None], semiring="max")[0, c]
        np.testing.assert_allclose(attained, result.log_value[0, c], atol=1e-12)


def selective_spn(seed):
    """Each leaf region {v} holds the indicators [x_v = 1] and [x_v = 0] (logits
    +-40) and each inner region one sum (S = 1) over the products of its
    children's indicators, so the children of every sum have disjoint supports
    (the root mixes a single product)."""
    spn = random_spn(seed, 4, "bernoulli", depth=2, num_sums=1, num_input_distributions=2)
    with torch.no_grad():
        spn.logits.copy_(torch.tensor([40.0, -40.0]).expand_as(spn.logits))
    return spn


@pytest.mark.parametrize("seed", range(5))
def test_mpe_is_the_exact_map_on_a_selective_spn(seed):
    spn = selective_spn(seed)
    x = binary_assignments(4)
    log_p = spn(torch.from_numpy(x))[:, 0].detach()
    result = spn.mpe()
    np.testing.assert_allclose(result.log_value[0, 0], log_p.max(), atol=1e-12)
    np.testing.assert_array_equal(result.assignment[0, 0], x[int(log_p.argmax())])
    # With evidence x_0 = 1, x_3 = 0: the MAP over the rest.
    evidence = torch.tensor([[1.0, math.nan, math.nan, 0.0]], dtype=torch.float64)
    rows = (x[:, 0] == 1) & (x[:, 3] == 0)
    result = spn.mpe(evidence)
    np.testing.assert_allclose(result.log_value[0, 0], log_p[rows].max(), atol=1e-12)
    np.testing.assert_array_equal(result.assignment[0, 0], x[rows][int(log_p[rows].argmax())])


def test_mpe_without_evidence_and_with_an_explicit_mask_agree():
    spn = random_spn(1, 4, "bernoulli", depth=2, num_repetitions=2, num_outputs=2)
    none = spn.mpe()
    masked = spn.mpe(torch.zeros(3, 4, dtype=torch.float64), torch.zeros(4, dtype=torch.bool))
    assert torch.equal(masked.assignment, none.assignment.expand(3, -1, -1))
    assert spn.mpe(None, torch.zeros(2, 4, dtype=torch.bool)).log_value.shape == (2, 2)
    with pytest.raises(ValueError, match="x is None"):
        spn.mpe(None, torch.ones(4, dtype=torch.bool))


# --------------------------------------------------------------- Gaussian, numerically


@pytest.mark.parametrize("num_vars", [1, 2])
def test_gaussian_spn_integrates_to_one_and_marginals_match_integrals(num_vars):
    spn = random_spn(7, num_vars, "gaussian", depth=1, num_repetitions=2, num_outputs=2)
    with torch.no_grad():
        spn.log_stds.uniform_(-0.5, 0.3)
    step = 0.04
    axis = torch.arange(-12.0, 12.0 + step / 2, step, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(*[axis] * num_vars, indexing="ij"), dim=-1)
    with torch.no_grad():
        density = spn(grid.reshape(-1, num_vars)).exp().reshape(*grid.shape[:-1], 2)
    np.testing.assert_allclose(grid_integral(density, step, num_vars), 1.0, atol=1e-6)
    if num_vars == 2:
        # p(x_0) = integral of p(x_0, x_1) dx_1, on the grid's x_0 points.
        expected = torch.trapezoid(density, dx=step, dim=1).log()
        points = torch.stack([axis, torch.full_like(axis, math.nan)], dim=1)
        got = spn(points, marginalize=torch.tensor([False, True])).detach()
        keep = expected[:, 0] > -20  # the tails are below the rule's accuracy
        np.testing.assert_allclose(got[keep], expected[keep], atol=1e-6)
        reference = region_graph_values(spn, points.nan_to_num().numpy(), points.isnan().numpy())
        np.testing.assert_allclose(got, reference, atol=1e-10)


def test_gaussian_mpe_is_attained_and_beats_other_points():
    spn = random_spn(11, 5, "gaussian", depth=2, num_repetitions=3, num_outputs=2)
    result = spn.mpe(torch.tensor([[0.5, math.nan, math.nan, -1.0, math.nan]]).double())
    chosen = result.assignment[0].numpy()
    attained = region_graph_values(spn, chosen, semiring="max")
    np.testing.assert_allclose(np.diag(attained), result.log_value[0], atol=1e-12)
    others = np.random.default_rng(0).normal(size=(200, 5)) * 2
    others[:, [0, 3]] = [0.5, -1.0]
    worse = region_graph_values(spn, others, semiring="max")
    assert (worse <= result.log_value.numpy() + 1e-12).all()


# --------------------------------------------------------------- region graphs


@pytest.mark.parametrize(
    ("tree", "message"),
    [
        (((0, 1, 2), [((0, 1, 2), [leaf(0), leaf(1, 2), leaf(2)])]), r"product node root\.0 .*"),
        (((0, 1, 2), [((0, 1, 2), [leaf(0), leaf(1)])]), r"product node root\.0 .*cover"),
        (((0, 1, 2), [((0, 1), [leaf(0), leaf(1)])]), r"sum node root .*not smooth.*root\.0"),
        (
            ((0, 1, 2), [((0, 1, 2), [leaf(0), ((1, 2), [((1, 2), [leaf(1)]), ((2,), [])])])]),
            r"sum node root\.0\.1 .*not smooth.*root\.0\.1\.1",
        ),
        (((0, 1), [((0, 1), [leaf(0, 1)])]), r"product node root\.0 has 1 child"),
        (((0, 2), [((0, 2), [leaf(0), leaf(2)])]), r"root region root must cover"),
        (((0, 1), [((0, 1), [leaf(0), leaf(-1)])]), r"root\.0\.1: variable -1"),
    ],
)
def test_explicit_structure_refuses_invalid_graphs_naming_the_node(tree, message):
    with pytest.raises(ValueError, match=message):
        RegionGraph.from_tree(tree)


def test_non_decomposable_message_names_the_shared_variable():
    with pytest.raises(ValueError, match=r"not decomposable: children root\.0\.1 and root\.0\.2"):
        RegionGraph.from_tree(((0, 1, 2), [((0, 1, 2), [leaf(0), leaf(1, 2), leaf(2)])]))


def test_from_dict_refuses_bad_graphs():
    good = shared_region_graph().to_dict()
    orphan = {**good, "regions": [*good["regions"], [3]]}
    with pytest.raises(ValueError, match=r"regions\[6\] is not reachable"):
        RegionGraph.from_dict(orphan)
    overlapping = {**good, "partitions": [{"region": 0, "children": [1, 5]}]}
    with pytest.raises(ValueError, match=r"partitions\[0\] .*not decomposable"):
        RegionGraph.from_dict(overlapping)
    with pytest.raises(ValueError, match="format_version"):
        RegionGraph.from_dict({**good, "format_version": 99})
    with pytest.raises(ValueError, match="region indices"):
        RegionGraph.from_dict({**good, "partitions": [{"region": 0, "children": [1, 9]}]})


@settings(max_examples=30)
@given(D=st.integers(1, 40), depth=st.integers(0, 6), reps=st.integers(1, 4), seed=st.integers())
def test_random_region_graphs_round_trip_through_json(D, depth, reps, seed):
    graph = RegionGraph.random(D, depth, reps, seed)
    assert RegionGraph.from_dict(json.loads(json.dumps(graph.to_dict()))) == graph
    assert pickle.loads(pickle.dumps(graph)) == graph
    assert graph == RegionGraph.random(D, depth, reps, seed)  # seeded
    # RAT-SPN shape: the root has one partition per repetition (when it splits).
    assert len(graph.partitions_of(0)) == (reps if depth > 0 and D > 1 else 0)


def test_state_dict_and_structure_round_trip_give_identical_outputs():
    for kind in ("gaussian", "bernoulli"):
        spn = random_spn(5, 6, kind, depth=2, num_repetitions=2, num_outputs=3)
        saved = json.dumps(spn.region_graph.to_dict())
        clone = SPN(
            6, kind, RegionGraph.from_dict(json.loads(saved)), num_outputs=3, seed=99
        ).double()
        clone.load_state_dict(spn.state_dict())
        x = torch.rand(8, 6, dtype=torch.float64).round() if kind == "bernoulli" else None
        x = torch.randn(8, 6, dtype=torch.float64) if x is None else x
        assert torch.equal(clone(x), spn(x))
        hidden = x.clone()
        hidden[:, ::2] = math.nan
        assert torch.equal(clone.mpe(hidden).assignment, spn.mpe(hidden).assignment)
        assert torch.equal(spn.mpe().assignment, clone.mpe().assignment)


# --------------------------------------------------------------- numerics and gradients


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_extreme_inputs_give_finite_log_likelihoods(dtype):
    torch.manual_seed(0)
    spn = SPN(64, "gaussian", depth=4, num_repetitions=2, num_outputs=2).to(dtype)
    for value in (1e-30, 1e4, -1e4, 300.0):
        out = spn(torch.full((3, 64), value, dtype=dtype))
        assert out.dtype == dtype and torch.isfinite(out).all(), value
    # Far below exp's range (in linear space the product would underflow to 0).
    assert spn(torch.full((1, 64), 50.0, dtype=dtype)).max() < -1e3
    bernoulli = SPN(64, "bernoulli", depth=4, num_outputs=2).to(dtype)
    with torch.no_grad():
        bernoulli.logits.mul_(30)
    assert torch.isfinite(bernoulli(torch.rand(4, 64, dtype=dtype).round())).all()


def test_float32_matches_float64():
    spn = random_spn(2, 6, "gaussian", depth=2, num_repetitions=2, num_outputs=2)
    x = torch.randn(5, 6, dtype=torch.float64)
    np.testing.assert_allclose(spn.float()(x.float()).detach(), spn(x).detach(), rtol=1e-5)


def test_nan_propagates_but_marginalised_nan_does_not():
    spn = random_spn(4, 3, "gaussian", depth=1)
    x = torch.tensor([[0.1, math.nan, 0.3]], dtype=torch.float64, requires_grad=True)
    assert torch.isnan(spn(x)).all()
    out = spn(x, marginalize=torch.tensor([False, True, False]))
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in spn.parameters())


@pytest.mark.parametrize("kind", ["gaussian", "bernoulli"])
def test_gradcheck_inputs_and_parameters(kind):
    spn = random_spn(
        6, 3, kind, depth=2, num_repetitions=2, num_sums=2, num_input_distributions=2, num_outputs=2
    )
    names = [n for n, _ in spn.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for p in spn.parameters())
    x = torch.rand(3, 3, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[False, False, False], [True, False, False], [False, True, True]])

    def run(x, *values):
        return torch.func.functional_call(spn, dict(zip(names, values, strict=True)), (x, mask))

    assert torch.autograd.gradcheck(run, (x, *params))


def test_invalid_arguments_are_refused():
    spn = SPN(3, "bernoulli", depth=1)
    with pytest.raises(ValueError, match=r"\(batch, num_vars=3\)"):
        spn(torch.zeros(2, 4))
    with pytest.raises(TypeError, match="floating"):
        spn(torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="marginalize"):
        spn(torch.zeros(2, 3), marginalize=torch.zeros(2, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="leaf"):
        SPN(3, "poisson")
    with pytest.raises(ValueError, match="over 4 variables"):
        SPN(3, region_graph=RegionGraph.random(4))
    with pytest.raises(ValueError, match="leaf region"):
        spn.log_weights(1)


# --------------------------------------------------------------- SPNFactor


@settings(max_examples=25)
@given(
    batch=st.integers(0, 3),
    length=st.integers(1, 7),
    features=st.integers(1, 3),
    labels=st.integers(1, 3),
    order=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_spn_factor_shapes_and_windows(batch, length, features, labels, order, seed):
    torch.manual_seed(seed)
    factor = SPNFactor(features, labels, order, seed=seed, num_sums=2).double()
    x = torch.randn(batch, length, features, dtype=torch.float64)
    out = factor(x)
    assert out.shape == (batch, length, labels**order) and torch.isfinite(out).all()
    n = order
    for t in range(length):
        # Position t: the window of segments t-n+1 .. t, the missing ones marginalised.
        missing = max(0, n - 1 - t)
        window = torch.cat(
            [torch.zeros(batch, missing, features, dtype=x.dtype), x[:, max(0, t - n + 1) : t + 1]],
            dim=1,
        ).reshape(batch, n * features)
        mask = torch.arange(n * features) < missing * features
        expected = factor.spn(window, marginalize=mask if missing else None)
        np.testing.assert_allclose(out[:, t].detach(), expected.detach(), atol=1e-12)


def test_spn_factor_start_positions_ignore_the_padding_and_are_marginals():
    factor = SPNFactor(2, 3, order=3).double()
    x = torch.randn(2, 4, 2, dtype=torch.float64)
    out = factor(x)
    # t = 0: the SPN's marginal over the last segment of the window alone.
    window = torch.cat([torch.full((2, 4), math.nan, dtype=x.dtype), x[:, 0]], dim=1)
    hidden = torch.tensor([True] * 4 + [False] * 2)
    np.testing.assert_allclose(out[:, 0].detach(), factor.spn(window, hidden).detach(), atol=1e-12)
    # Later segments do not change earlier factors (the windows look back only).
    changed = x.clone()
    changed[:, 3] += 5
    assert torch.equal(factor(changed)[:, :3], out[:, :3])


def test_spn_factor_is_differentiable_end_to_end():
    """A conditional log-likelihood over all label sequences (brute force, L = 2,
    order 2, T = 3) reaches the inputs and every parameter."""
    torch.manual_seed(0)
    L, T = 2, 3
    factor = SPNFactor(3, L, order=2, num_sums=2)
    x = torch.randn(2, T, 3, requires_grad=True)
    scores = factor(x)  # (2, T, L*L); n-gram (y_{t-1}, y_t) at index y_{t-1} * L + y_t

    def sequence_score(labels):
        previous = [0, *labels[:-1]]  # start convention of this test: label 0 before t = 0
        return sum(scores[:, t, previous[t] * L + labels[t]] for t in range(T))

    all_scores = torch.stack([sequence_score(list(y)) for y in np.ndindex(*[L] * T)], dim=-1)
    nll = -(sequence_score([1, 0, 1]) - torch.logsumexp(all_scores, dim=-1)).mean()
    nll.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for name, p in factor.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_spn_factor_empty_inputs_and_checks():
    factor = SPNFactor(2, 2, order=2)
    empty = torch.zeros(0, 5, 2, requires_grad=True)
    out = factor(empty)
    assert out.shape == (0, 5, 4)
    out.sum().backward()
    assert factor(torch.zeros(3, 0, 2)).shape == (3, 0, 4)
    with pytest.raises(ValueError, match="num_features=2"):
        factor(torch.zeros(1, 3, 3))
    with pytest.raises(ValueError, match="order"):
        SPNFactor(2, 2, order=0)


def test_every_tensor_follows_the_module_device():
    """The meta device stands in for an accelerator: a tensor made on the CPU by
    mistake would meet meta tensors and fail."""
    spn = SPN(5, "gaussian", depth=2, num_repetitions=2, num_outputs=3).to("meta")
    x = torch.zeros(4, 5, device="meta", requires_grad=True)
    out = spn(x, marginalize=torch.tensor([True, False, False, False, True], device="meta"))
    out.sum().backward()
    assert out.shape == (4, 3) and out.device.type == "meta" and x.grad.device.type == "meta"
    assert spn.mpe(torch.zeros(4, 5, device="meta")).assignment.device.type == "meta"
    assert SPN(5, "bernoulli").to("meta").mpe().assignment.device.type == "meta"
    factor = SPNFactor(3, 2, order=3).to("meta")
    assert factor(torch.zeros(2, 5, 3, device="meta")).shape == (2, 5, 8)
