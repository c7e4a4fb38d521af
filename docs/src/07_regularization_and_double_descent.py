# %% [markdown]
# # 7. Regularization and double descent
#
# A network with more parameters than training examples can memorise them: training loss
# near 0, validation loss climbing. Seeds 001, 002 and 004 list the remedies; here we try the
# main ones on one small problem (200 training digits, a wide MLP), then look at a surprise of
# modern deep learning, *double descent*: make the model even bigger and the test error can
# fall again.

# %%
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display

from gradflow import Tensor, fit, no_grad
from gradflow.data import Standardizer, load_digits
from gradflow.experiments.bias_variance import best_complexity, bias_variance
from gradflow.experiments.implicit import distance_table, implicit_regularization
from gradflow.experiments.landscape import loss_landscape
from gradflow.metrics import accuracy
from gradflow.nn import Dropout, Linear, ReLU, mlp
from gradflow.regularization import Regularizer
from gradflow.sweep import double_descent
from gradflow.training import EarlyStopping, predict
from gradflow.visual import plots

# %% [markdown]
# ## An overfitting set-up
#
# 200 training digits, 300 for validation, the rest for testing; an MLP 64-128-128-10
# (≈ 26 000 parameters for 200 examples).

# %%
X, y = load_digits()
rng = np.random.default_rng(0)
order = rng.permutation(len(X))
train, val, test = order[:200], order[200:500], order[500:]
scaler = Standardizer().fit(X[train])
X_train, X_val, X_test = (scaler.transform(X[i]) for i in (train, val, test))
y_train, y_val, y_test = y[train], y[val], y[test]


def train(model, epochs=40, **kwargs):
    history = fit(
        model, (X_train, y_train), (X_val, y_val),
        optimizer="adam", lr=3e-3, epochs=epochs, batch_size=32, seed=0, progress=False, **kwargs,
    )  # fmt: skip
    model.eval()
    test_accuracy = accuracy(y_test, predict(model, X_test))
    return history, test_accuracy


baseline = mlp([64, 128, 128, 10], seed=0)
history, test_acc = train(baseline)
print(f"no regularization: test accuracy {test_acc:.3f}")
plots.plot_history(history.epochs, path=None)

# %% [markdown]
# The training data are memorised (training accuracy 1, training loss near 0) long before
# the validation loss stops falling; from about epoch 20 on the validation loss no longer
# improves. That gap between training and validation is overfitting.
#
# ## L2 and L1 penalties
#
# Add a penalty on the weights (not the biases) to the loss:
# $L + \lambda_2\sum w^2$ (L2, "weight decay") or $L + \lambda_1\sum |w|$ (L1). Their
# gradients are $2\lambda_2 w$ (shrink every weight in proportion) and $\lambda_1
# \operatorname{sign}(w)$ (a constant pull towards 0, which makes many weights exactly small:
# sparsity). gradflow's `Regularizer` adds these gradients after backprop:

# %%
w = Tensor(np.array([[0.5, -2.0], [0.0, 1.0]]), requires_grad=True)
w.grad = np.zeros((2, 2))
Regularizer(l1=0.1, l2=0.01).add_penalty_grads([w])
print("λ₁ sign(w) + 2λ₂ w =\n", w.grad)
assert np.allclose(w.grad, 0.1 * np.sign(w.data) + 2 * 0.01 * w.data)

# %%
results = {"none": (history, test_acc, baseline)}
for name, reg in (
    ("L2 (λ₂ = 3e-3)", Regularizer(l2=3e-3)),
    ("L1 (λ₁ = 3e-4)", Regularizer(l1=3e-4)),
):
    model = mlp([64, 128, 128, 10], seed=0)
    h, acc = train(model, regularizer=reg)
    results[name] = (h, acc, model)
    print(f"{name}: test accuracy {acc:.3f}")

fig, ax = plt.subplots(figsize=(6, 3.3))
for name, (_, _, model) in results.items():
    weights = model.parameters()[0].data.ravel()
    ax.hist(weights, bins=80, range=(-0.4, 0.4), histtype="step", label=name)
ax.set_title("First-layer weights after training")
ax.set_yscale("log")
ax.legend()
plt.show()

# %% [markdown]
# ## Dropout
#
# During training each hidden unit is switched off with probability $p$; the survivors are
# scaled by $1/(1-p)$ (*inverted* dropout) so the expected activation is unchanged and the
# network needs no change at test time (`model.eval()` turns dropout off). Every batch trains
# a different thinned network: an implicit ensemble.

# %%
drop = Dropout(0.5, seed=0)
ones = Tensor(np.ones((1, 10)))
print(
    "training:",
    drop(ones).data,
    " mean of many masks:",
    np.mean([drop(ones).data.mean() for _ in range(500)]).round(3),
)
drop.eval()
print("eval    :", drop(ones).data)

model = mlp([64, 128, 128, 10], dropout=0.5, seed=0)
h, acc = train(model)
results["dropout 0.5"] = (h, acc, model)
print(f"dropout 0.5: test accuracy {acc:.3f}")

# %% [markdown]
# ## Early stopping
#
# Watch the validation loss and stop when it has not improved for `patience` epochs, keeping
# the weights of the best epoch. It costs nothing and saves training time.

# %%
stopper = EarlyStopping(monitor="val_loss", patience=5, restore_best_weights=True)
model = mlp([64, 128, 128, 10], seed=0)
h, acc = train(model, callbacks=[stopper])
results["early stopping"] = (h, acc, model)
print(
    f"stopped after epoch {len(h.epochs)}, best epoch {stopper.best_epoch}: test accuracy {acc:.3f}"
)

# %%
fig, ax = plt.subplots(figsize=(6.5, 3.5))
for name, (h, acc, _) in results.items():
    ax.plot(
        [e["epoch"] for e in h.epochs],
        [e["val_loss"] for e in h.epochs],
        label=f"{name} (test acc {acc:.3f})",
    )
ax.set_xlabel("epoch")
ax.set_ylabel("validation loss")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# On a problem this small the differences are a few test examples in a hundred; the
# validation curves show the mechanism better: the penalties keep the validation loss
# falling after the unregularised run has flattened out, dropout learns slower but keeps
# improving, and early stopping keeps the best epoch at a fraction of the training time.

# %% [markdown]
# ## The loss landscape around the trained weights
#
# The network has about 26 000 parameters, so we look at the training loss on a plane through
# the trained weights $\theta^*$: $L(\theta^* + a\delta + b\eta)$ for two random directions
# $\delta, \eta$. Each direction is *filter-normalised* (Li et al., 2018): every row of a
# weight matrix (one neuron's incoming weights) is scaled to the norm of the same row of
# $\theta^*$, biases are left alone, so $a = 1$ means "each neuron's weights moved by their
# own size" whatever the scale of the layer. `loss_landscape` evaluates a 21 × 21 grid
# (no gradients, the weights restored afterwards).

# %%
for name in ("none", "L2 (λ₂ = 3e-3)"):
    landscape = loss_landscape(
        results[name][2], "cross_entropy", X_train, y_train, steps=21, span=1.0, seed=0
    )
    print(
        f"{name}: loss at the trained weights {landscape.centre:.4f}, "
        f"at the corners of the grid {landscape.losses[[0, 0, -1, -1], [0, -1, 0, -1]].round(2)}"
    )
    display(plots.plot_loss_landscape(landscape, path=None, title=f"regularization: {name}"))

# %% [markdown]
# The trained weights sit at the bottom of a bowl on both planes. Without regularization the
# training loss there is nearly 0 and the walls are steep (log colour scale: each band is a
# factor); with the L2 penalty the bottom is higher (the data are fitted less exactly) and
# the bowl is wider and flatter, the shape that is associated with better generalisation.
# (With L2 the lowest training loss on the grid can lie a little off the trained weights:
# they minimise the loss plus the penalty, and the picture shows the loss alone.)
# Random planes hide a lot (a narrow valley in one of 26 000 directions is missed), so
# such pictures compare models; they do not measure a minimum.

# %% [markdown]
# ## Implicit regularization: the loss gradient descent really minimises
#
# Seed 001: gradient descent with a finite step $\alpha$ does not follow the gradient flow
# $d\phi/dt = -\partial L/\partial \phi$ it approximates. To second order in $\alpha$ its
# iterates lie on the flow of a *modified* loss
#
# $$L_{GD}[\phi] = L[\phi] + \frac{\alpha}{4}\left\|\frac{\partial L}{\partial \phi}\right\|^2,$$
#
# which has the same minima but steers the path away from places with a large gradient.
# The smallest model with many minima shows it: $y = a \cdot b \cdot x$ fitted to the one
# example $x = 1, y = 1$, so $L(a, b) = \frac{1}{2}(ab - 1)^2$ and every point of the
# hyperbola $ab = 1$ is a minimum. `implicit_regularization` runs GD from $(0.3, 0)$ with
# $\alpha = 0.3$, and both flows (small Runge–Kutta steps, gradients from gradflow's engine)
# sampled at the same times $t = k\alpha$.

# %%
paths = implicit_regularization(start=(0.3, 0.0), lr=0.3)
print(f"largest distance of GD to the flow of L:              {paths.distance_to_flow:.4f}")
print(
    f"largest distance of GD to the flow of L + (α/4)‖∇L‖²: {paths.distance_to_modified_flow:.4f}"
)
for name in ("flow", "modified_flow", "gd"):
    a, b = getattr(paths, name)[-1]
    print(f"{name:14s} ends at a = {a:.3f}, b = {b:.3f}:  a² − b² = {a * a - b * b:.3f}")
table = distance_table((0.3, 0.15, 0.075, 0.0375))
for row in table:
    print(
        f"α = {row['lr']:<7g} to the flow of L {row['distance_to_flow']:.5f}   "
        f"to the modified flow {row['distance_to_modified_flow']:.5f}"
    )
plots.plot_implicit_regularization(paths, table, path=None)

# %% [markdown]
# The plain flow keeps $a^2 - b^2$ at its starting value $0.09$ (its derivative in time is 0)
# and slides to the minimum with that imbalance; GD ends at a more balanced minimum, and the
# flow of $L_{GD}$ predicts where: it stays 8 times closer to GD's iterates than the plain
# flow. Halving $\alpha$ halves GD's distance to the plain flow but quarters its distance to
# the modified one (right panel: slopes 1 and 2 on log–log axes), which is what "to second
# order in $\alpha$" means. A balanced minimum is a flatter one (the largest curvature there
# is $a^2 + b^2$), the kind that is believed to generalise better.
#
# ## Bias and variance, over many training sets
#
# Seed 001 splits the expected test error of a model trained on a random training set $D$
# into three parts: with $f_\mu[x] = E_D[f[x, \phi[D]]]$ the average model,
#
# $$E_D[E_y[L[x]]] = E_D[(f[x, \phi[D]] - f_\mu[x])^2] + (f_\mu[x] - \mu[x])^2 + \sigma^2,$$
#
# variance, bias² and noise.
#
# `bias_variance` estimates each term: 200 training sets of 20 points of
# $\mu[x] = \sin 2\pi x$ with noise $\sigma = 0.3$, a polynomial of each degree fitted to
# each set by least squares, the terms averaged over 200 test inputs, and the test error
# measured on fresh noisy targets to check the sum.

# %%
rows = bias_variance(range(0, 13), n_train=20, noise=0.3, datasets=200)
for r in rows:
    print(
        f"degree {r.complexity:2d}: bias² {r.bias2:.4f}  variance {r.variance:.4f}  "
        f"sum + σ² {r.expected_error:.4f}  measured {r.test_error:.4f}"
    )
print("best degree:", best_complexity(rows))
plots.plot_bias_variance(rows, path=None)

# %% [markdown]
# Degrees 0–2 cannot bend like a sine: bias dominates. From degree 3 the bias² is nearly 0
# and every extra coefficient only adds variance: the fits follow each training set's noise,
# and near the ends of $[0, 1]$ they swing. The sum of the three estimates matches the
# measured test error at every degree. This U-shape is the classical trade-off that double
# descent, next, goes beyond.

# %% [markdown]
# ## Double descent
#
# Classical wisdom (the bias-variance trade-off) says test error is U-shaped in model size.
# Seed 001 (Prince, ch. 8) shows what happens past the point where the model can fit the
# training data exactly (the *interpolation threshold*, parameters ≈ training examples): the
# test error peaks there and then falls *again*, often below the first minimum.
#
# A cheap experiment that shows it: a two-layer network whose first layer is random and
# frozen (a `Linear` layer + ReLU with $n$ hidden units) and whose output layer is fitted by
# least squares on 100 training digits. Past the threshold ($n > 100$) many output weights fit
# the data exactly; we take the one of minimum norm (`np.linalg.pinv`), which is also where
# gradient descent started from zero converges. We vary $n$ and average three random first
# layers.

# %%
n_train = 100
Xs_train, ys_train = X_train[:n_train], y_train[:n_train]
targets = np.eye(10)[ys_train]


def random_features_errors(width: int, seed: int) -> tuple[float, float]:
    hidden = Linear(64, width, init="lecun_normal", seed=seed)
    relu = ReLU()
    with no_grad():
        F_train = relu(hidden(Tensor(Xs_train))).data
        F_test = relu(hidden(Tensor(X_test))).data
    head = np.linalg.pinv(F_train) @ targets  # the minimum-norm least-squares output layer
    train_error = np.mean((F_train @ head).argmax(1) != ys_train)
    test_error = np.mean((F_test @ head).argmax(1) != y_test)
    return train_error, test_error


widths = [10, 20, 40, 60, 80, 90, 100, 110, 125, 150, 200, 400, 800, 2000]
errors = np.array([[random_features_errors(n, s) for s in range(3)] for n in widths]).mean(axis=1)
for n, (tr_err, te_err) in zip(widths, errors):
    print(f"hidden units {n:5d}: train error {tr_err:.2f}  test error {te_err:.3f}")
plots.plot_double_descent(
    widths, errors[:, 1], path=None, train_errors=errors[:, 0], threshold=n_train
)

# %% [markdown]
# The test error falls, rises to a peak at $n = 100$ (exactly as many hidden units as training
# examples: one solution fits, and it is wild), then falls again as the minimum-norm solution
# among ever more interpolating ones becomes smoother. Training error is 0 from the threshold
# on. Deep networks trained with SGD show the same shape in model size, and also in epochs.
#
# ## The same experiment with trained networks, many at once
#
# Seed 001's curve is dozens of widths × several seeds: many small, independent trainings.
# `gradflow.sweep` runs such a list of configurations and returns one row per run; with
# `executor="dask"` it starts a Dask `LocalCluster` (one worker process per core, one thread
# each), sends the data to every worker once, and closes the cluster at the end. A
# `"tcp://host:8786"` address or a `distributed.Client` runs the same sweep on a real cluster.
# Each run draws everything from its own seeds, so the rows are the numbers of training that
# configuration alone, wherever it ran. Here: an MLP with one hidden layer of each width,
# trained with Adam on 200 digits of which 15 % carry a wrong label.

# %%
trained = double_descent(
    [1, 2, 4, 8, 16, 32, 64, 128, 256],
    seeds=[0],
    n_train=200,
    label_noise=0.15,
    epochs=150,
    executor="dask",
    workers=2,
)
for point in trained.curve:
    print(
        f"width {point['hidden']:4d} ({point['parameters']:6.0f} parameters): "
        f"train error {point['train_error']:.3f}  test error {point['test_error']:.3f}"
    )
print("worker processes used:", len({row["worker"] for row in trained.rows}))
trained.plot(path=None)

# %% [markdown]
# The rows are plain dicts (`row["config"]`, `row["metrics"]`, `row["history"]`), so
# `pandas.DataFrame(trained.rows)` or a JSON-lines file (`out="results.jsonl"`, resumable
# with `resume=True`) takes them as they are. A run that fails is a row with its error, not
# a lost sweep. The command line does the same from a TOML file: `gradflow sweep
# sweep.toml --workers 2 --out results.jsonl --plot curve.png` (see `docs/sweep.md`).
#
# **Exercises:** `l1_l2_penalty`, `inverted_dropout`, `batchnorm`.
#
# **Next:** [8. Convolutional networks](08_cnns.ipynb).
