"""visual.plots: every figure writes a non-empty image with the expected axes and titles."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from matplotlib.figure import Figure

from gradflow.ops import OPS
from gradflow.visual import plots

PNG = b"\x89PNG\r\n\x1a\n"


def written(path):
    data = path.read_bytes()
    assert data[:8] == PNG and len(data) > 5000
    return path


def titles(fig: Figure) -> list[str]:
    return [ax.get_title() for ax in fig.axes if ax.get_title()]


def test_activations_cover_every_activation_of_the_table(tmp_path):
    written(plots.plot_activations(tmp_path / "act.png"))
    fig = plots.plot_activations(None)
    names = [op.name for op in plots.activation_ops()]
    # the course's activations, written down here on purpose: the op table's roles must say
    # exactly these (a new activation op is added here too; exp or clip are not activations)
    assert sorted(names) == sorted(COURSE_ACTIVATIONS)
    assert titles(fig) == names
    for name in names:
        op = OPS[name]
        assert op.elementwise and op.arity == 1 and op.local is not None, name


COURSE_ACTIVATIONS = (
    "relu",
    "step",
    "leaky_relu",
    "elu",
    "selu",
    "gelu",
    "gelu_approx",
    "sigmoid",
    "tanh",
    "softplus",
    "swish",
    "mish",
)


@pytest.mark.parametrize("name", [op.name for op in plots.activation_ops()])
def test_plotted_derivative_is_the_slope_of_the_plotted_curve(name):
    x = np.linspace(-3, 3, 6001)
    y, dy = plots.activation_curve(OPS[name], x)
    slope = np.gradient(y, x)
    smooth = np.abs(x) > 0.01  # away from the kink at 0
    assert np.allclose(dy[smooth][1:-1], slope[smooth][1:-1], atol=1e-4)


def test_relu_and_sigmoid_curves_by_hand():
    x = np.array([-2.0, 0.0, 3.0])
    y, dy = plots.activation_curve(OPS["relu"], x)
    assert y.tolist() == [0.0, 0.0, 3.0] and dy.tolist() == [0.0, 0.0, 1.0]  # ReLU'(0) = 0
    y, dy = plots.activation_curve(OPS["sigmoid"], np.array([0.0]))
    assert y[0] == 0.5 and dy[0] == 0.25


def test_neuron_surfaces(tmp_path):
    written(plots.plot_neuron_surfaces(tmp_path / "n.png"))
    fig = plots.plot_neuron_surfaces(None)
    assert titles(fig) == [
        f"{f}: {kind}" for f in ("identity", "sigmoid", "relu") for kind in ("surface", "contour")
    ]
    assert sum(ax.name == "3d" for ax in fig.axes) == 3


HISTORY = [
    {"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e, "train_accuracy": 1 - 0.5 / e,
     "val_accuracy": 1 - 0.6 / e, "lr": 0.1, "seconds": 0.5}
    for e in range(1, 6)
]  # fmt: skip


def test_history(tmp_path):
    written(plots.plot_history(HISTORY, tmp_path / "h.png"))
    fig = plots.plot_history(HISTORY, None)
    assert titles(fig) == ["loss", "accuracy"]
    loss_ax = fig.axes[0]
    assert [line.get_label() for line in loss_ax.get_lines()] == ["train", "val"]
    assert list(loss_ax.get_lines()[1].get_ydata()) == [1.2 / e for e in range(1, 6)]
    no_val = [{k: v for k, v in row.items() if not k.startswith("val")} for row in HISTORY]
    assert titles(plots.plot_history(no_val, None)) == ["loss", "accuracy"]
    with pytest.raises(ValueError, match="empty"):
        plots.plot_history([], tmp_path / "x.png")


def test_optimizer_paths_reach_the_minimum(tmp_path):
    written(plots.plot_optimizer_paths(tmp_path / "o.png"))
    fig = plots.plot_optimizer_paths(None)
    assert titles(fig) == ["ravine", "Rosenbrock"]
    names = ["GD", "momentum", "Nesterov", "AdaGrad", "RMSProp", "Adam"]
    assert [line.get_label() for line in fig.axes[0].get_lines()][:6] == names
    for surface, spec in plots.SURFACES.items():
        paths = plots.optimizer_paths(surface)
        assert list(paths) == names
        start = spec["f"](*spec["start"])
        for name, pts in paths.items():
            assert np.isfinite(pts).all(), (surface, name)
            assert spec["f"](*pts[-1]) < 0.1 * start, (surface, name)
    adam_end = plots.optimizer_paths("Rosenbrock")["Adam"][-1]
    assert np.allclose(adam_end, [1.0, 1.0], atol=0.05)


def test_fallback_rules_by_hand():
    p, g = np.array([1.0, 2.0]), np.array([0.5, -1.0])
    plots._FallbackRules.sgd(p, g, 0.1, 0.0)
    assert np.allclose(p, [0.95, 2.1])
    # Adam's first step is −lr·sign(g) (bias-corrected m̂ = g, v̂ = g²)
    p, m, v = np.zeros(2), np.zeros(2), np.zeros(2)
    plots._FallbackRules.adam(p, g, m, v, 1, 0.01, 0.9, 0.999, 1e-12, 0.0)
    assert np.allclose(p, [-0.01, 0.01])
    # AdaGrad's first step is −lr·g/|g| too
    p, s = np.zeros(2), np.zeros(2)
    plots._FallbackRules.adagrad(p, g, s, 0.2, 1e-12, 0.0)
    assert np.allclose(p, [-0.2, 0.2])


def test_confusion_matrix(tmp_path):
    cm = np.array([[5, 1, 0], [2, 7, 1], [0, 0, 9]])
    written(plots.plot_confusion_matrix(cm, ["a", "b", "c"], tmp_path / "cm.png"))
    fig = plots.plot_confusion_matrix(cm, ["a", "b", "c"], None)
    ax = fig.axes[0]
    assert ax.get_title() == "Confusion matrix"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted", "true")
    assert [t.get_text() for t in ax.texts] == [str(v) for v in cm.ravel()]
    with pytest.raises(ValueError, match="square"):
        plots.plot_confusion_matrix(np.ones((2, 3)), None, tmp_path / "x.png")
    with pytest.raises(ValueError, match="2 labels"):
        plots.plot_confusion_matrix(cm, ["a", "b"], tmp_path / "x.png")


def test_roc(tmp_path):
    fpr, tpr = np.array([0, 0.1, 0.4, 1.0]), np.array([0, 0.6, 0.9, 1.0])
    written(plots.plot_roc(fpr, tpr, 0.85, tmp_path / "roc.png"))
    ax = plots.plot_roc(fpr, tpr, 0.85, None).axes[0]
    assert ax.get_title() == "ROC curve (AUC = 0.850)"
    assert ax.get_xlabel() == "false positive rate"
    with pytest.raises(ValueError, match="shape"):
        plots.plot_roc(fpr, tpr[:2], 0.5, tmp_path / "x.png")


def test_grad_histograms_flag_a_dead_layer(tmp_path):
    rng = np.random.default_rng(0)
    grads = {"Linear1": rng.normal(size=(8, 4)), "Linear2": np.zeros((4, 2))}
    written(plots.plot_grad_histograms(grads, tmp_path / "g.png"))
    t = titles(plots.plot_grad_histograms(grads, None))
    assert t[0].startswith("Linear1\n") and "0% zero" in t[0]
    assert t[1] == "Linear2\n‖g‖ = 0, 100% zero"


def test_double_descent(tmp_path):
    sizes = [10, 20, 50, 100, 200, 500, 1000]
    err = [0.3, 0.25, 0.6, 0.35, 0.2, 0.15, 0.12]
    written(plots.plot_double_descent(sizes, err, tmp_path / "dd.png", threshold=50))
    ax = plots.plot_double_descent(sizes, err, None, train_errors=err).axes[0]
    assert ax.get_title() == "Double descent" and ax.get_xscale() == "log"
    with pytest.raises(ValueError, match="test errors"):
        plots.plot_double_descent(sizes, err[:3], tmp_path / "x.png")


@given(st.lists(st.floats(0, 1), min_size=2, max_size=20))
def test_history_accepts_any_finite_curve(values):
    hist = [{"epoch": i + 1, "train_loss": v} for i, v in enumerate(values)]
    fig = plots.plot_history(hist, None)
    assert list(fig.axes[0].get_lines()[0].get_ydata()) == values


def test_optimizer_paths_use_gradflow_optim_rules_when_present():
    """The local rules are a fallback only; once gradflow.optim exists it is used, and the
    fallback must agree with it step for step."""
    import importlib.util

    if importlib.util.find_spec("gradflow.optim") is None:
        assert plots._rules() is plots._FallbackRules
        pytest.skip("gradflow.optim is not on this branch yet; the fallback rules are in use")
    from gradflow.optim import rules

    assert plots._rules() is rules
    rng = np.random.default_rng(1)
    lr = {"GD": 0.1, "momentum": 0.1, "Nesterov": 0.1, "AdaGrad": 0.1, "RMSProp": 0.1, "Adam": 0.1}
    ours, theirs = plots._updates(plots._FallbackRules, lr), plots._updates(rules, lr)
    for name, (n_state, step) in ours.items():
        p1, p2 = rng.normal(size=2), None
        p2 = p1.copy()
        s1, s2 = [np.zeros(2) for _ in range(n_state)], [np.zeros(2) for _ in range(n_state)]
        for t in range(1, 4):
            g = rng.normal(size=2)
            step(p1, g, s1, t)
            theirs[name][1](p2, g, s2, t)
        assert np.allclose(p1, p2), name


def test_layer_grads_of_a_model_feed_the_histograms():
    from gradflow import Tensor
    from gradflow.nn import Linear, Sequential

    model = Sequential(Linear(3, 4, seed=0), Linear(4, 2, seed=1))
    x = Tensor(np.ones((5, 3)))
    (model(x) ** 2).mean().backward()
    grads = plots.layer_grads(model)
    # titled with the layer's name: its place in the model and its kind, not a bare "1"
    assert list(grads) == ["0 Linear", "1 Linear"] and grads["0 Linear"].shape == (3 * 4 + 4,)
    assert np.array_equal(grads["1 Linear"][:8], model[1].weight.grad.ravel())
    fig = plots.plot_grad_histograms(grads, None)
    assert titles(fig)[0].startswith("0 Linear\n‖g‖ = ")
    a, b = fig.axes[:2]
    assert a.get_xlim() == b.get_xlim()  # one x-axis: the layers compare at a glance


def test_epoch_ticks_are_whole_and_titles_name_what_was_trained():
    hist = [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.1 / e} for e in range(1, 11)]
    fig = plots.plot_history(hist, None, title="MLP on the 8×8 digits, cross_entropy loss")
    ticks = [t for t in fig.axes[0].get_xticks() if 1 <= t <= 10]
    assert ticks and all(float(t).is_integer() for t in ticks)
    assert fig._suptitle.get_text() == "MLP on the 8×8 digits, cross_entropy loss"
    neuron = plots.plot_neuron_surfaces(None, (2.0, -1.0), -0.5)
    assert neuron._suptitle.get_text() == "Neuron y = f(2·x₁ − 1·x₂ − 0.5)"  # not "+ -0.5"
