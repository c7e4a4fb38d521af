"""Metrics against small examples worked out by hand, and ROC AUC against its meaning."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradflow import metrics as M

Y_TRUE = [0, 0, 1, 1, 2, 2]
Y_PRED = [0, 1, 1, 1, 2, 0]


def test_accuracy_from_labels_and_from_scores():
    assert M.accuracy(Y_TRUE, Y_PRED) == pytest.approx(4 / 6)
    scores = np.eye(3)[Y_PRED] * 2.0 - 0.5
    assert M.accuracy(Y_TRUE, scores) == pytest.approx(4 / 6)
    assert M.accuracy([1, 0, 1], np.array([[0.9], [0.2], [0.4]])) == pytest.approx(2 / 3)


def test_confusion_matrix():
    np.testing.assert_array_equal(
        M.confusion_matrix(Y_TRUE, Y_PRED), [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    )
    assert M.confusion_matrix([0], [0], num_classes=3).shape == (3, 3)


def test_precision_recall_f1_per_class():
    p, r, f = M.precision_recall_f1(Y_TRUE, Y_PRED)
    # class 0: TP 1, predicted 0 twice, truly 0 twice; class 1: TP 2 of 3 predicted, 2 true;
    # class 2: TP 1 of 1 predicted, 2 true
    np.testing.assert_allclose(p, [1 / 2, 2 / 3, 1.0])
    np.testing.assert_allclose(r, [1 / 2, 1.0, 1 / 2])
    np.testing.assert_allclose(f, [1 / 2, 0.8, 2 / 3])


def test_macro_and_micro_averages():
    p, r, f = M.precision_recall_f1(Y_TRUE, Y_PRED, average="macro")
    assert p == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    assert r == pytest.approx((1 / 2 + 1 + 1 / 2) / 3)
    assert f == pytest.approx((1 / 2 + 0.8 + 2 / 3) / 3)
    # micro averages pool TP/FP/FN: for single-label problems they all equal accuracy
    assert M.precision(Y_TRUE, Y_PRED, "micro") == pytest.approx(4 / 6)
    assert M.recall(Y_TRUE, Y_PRED, "micro") == pytest.approx(4 / 6)
    assert M.f1_score(Y_TRUE, Y_PRED, "micro") == pytest.approx(4 / 6)


def test_class_never_predicted_has_zero_precision_without_warnings():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p, r, _ = M.precision_recall_f1([0, 1], [0, 0])
    np.testing.assert_allclose(p, [0.5, 0.0])
    np.testing.assert_allclose(r, [1.0, 0.0])


def test_roc_curve_by_hand():
    fpr, tpr, thr = M.roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    # thresholds ∞, 0.8, 0.4, 0.35, 0.1: the curve (0,0) (0,½) (½,½) (½,1) (1,1)
    np.testing.assert_allclose(fpr, [0, 0, 0.5, 0.5, 1])
    np.testing.assert_allclose(tpr, [0, 0.5, 0.5, 1, 1])
    np.testing.assert_allclose(thr, [np.inf, 0.8, 0.4, 0.35, 0.1])
    assert M.auc(fpr, tpr) == pytest.approx(0.75)


@given(
    st.lists(st.tuples(st.booleans(), st.integers(0, 5)), min_size=2, max_size=40).filter(
        lambda xs: 0 < sum(b for b, _ in xs) < len(xs)
    )
)
def test_auc_is_the_probability_a_positive_outscores_a_negative(samples):
    y = np.array([b for b, _ in samples])
    s = np.array([v for _, v in samples], dtype=float)  # small integers: many ties
    pos, neg = s[y], s[~y]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    assert M.roc_auc(y, s) == pytest.approx(wins / (len(pos) * len(neg)))


def test_roc_needs_both_classes():
    with pytest.raises(ValueError, match="at least one positive and one negative"):
        M.roc_curve([1, 1], [0.2, 0.3])
