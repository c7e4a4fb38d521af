"""Evaluation metrics of the course: accuracy, confusion matrix, precision, recall, F1
(per class, macro, micro), ROC curve and AUC. Plain numpy over label/score arrays."""

from __future__ import annotations

import numpy as np

from .errors import ArgumentError, DataError, ShapeError


def predicted_labels(y_pred: np.ndarray) -> np.ndarray:
    """Labels from labels, from (n, k) class scores (argmax) or from (n, 1) probabilities."""
    y_pred = np.asarray(y_pred)
    if y_pred.ndim == 2 and y_pred.shape[1] > 1:
        return y_pred.argmax(axis=1)
    if y_pred.dtype.kind == "f":
        return (y_pred.reshape(-1) >= 0.5).astype(np.int64)
    return y_pred.reshape(-1)


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true).reshape(-1)
    p = predicted_labels(y_pred)
    if len(t) != len(p):
        raise ShapeError(f"metrics: {len(t)} true labels but {len(p)} predictions")
    return t, p


def accuracy(y_true, y_pred) -> float:
    """Fraction of correct predictions (``y_pred`` labels or class scores)."""
    t, p = _pair(y_true, y_pred)
    return float(np.mean(t == p)) if len(t) else float("nan")


def confusion_matrix(y_true, y_pred, num_classes: int | None = None) -> np.ndarray:
    """``cm[i, j]`` = number of samples of true class i predicted as class j."""
    t, p = _pair(y_true, y_pred)
    t, p = t.astype(np.int64), p.astype(np.int64)
    k = num_classes or int(max(t.max(initial=-1), p.max(initial=-1)) + 1)
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (t, p), 1)
    return cm


def _ratio(num, den):
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def precision_recall_f1(y_true, y_pred, average: str | None = None, num_classes: int | None = None):
    """(precision, recall, F1). ``average=None``: arrays per class; ``"macro"``: their
    unweighted mean; ``"micro"``: from total TP/FP/FN (equals accuracy for single-label).
    A class never predicted has precision 0 (no division-by-zero warnings)."""
    cm = confusion_matrix(y_true, y_pred, num_classes)
    tp = np.diag(cm)
    fp = cm.sum(axis=0) - tp
    fn = cm.sum(axis=1) - tp
    if average == "micro":
        tp, fp, fn = tp.sum(), fp.sum(), fn.sum()
    elif average not in (None, "macro"):
        raise ArgumentError(f"average must be None, 'macro' or 'micro', got {average!r}")
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = _ratio(2 * precision * recall, precision + recall)
    if average == "macro":
        return float(precision.mean()), float(recall.mean()), float(f1.mean())
    if average == "micro":
        return float(precision), float(recall), float(f1)
    return precision, recall, f1


def precision(y_true, y_pred, average: str | None = None):
    """TP / (TP + FP)."""
    return precision_recall_f1(y_true, y_pred, average)[0]


def recall(y_true, y_pred, average: str | None = None):
    """TP / (TP + FN)."""
    return precision_recall_f1(y_true, y_pred, average)[1]


def f1_score(y_true, y_pred, average: str | None = None):
    """2PR / (P + R), the harmonic mean of precision and recall."""
    return precision_recall_f1(y_true, y_pred, average)[2]


def roc_curve(y_true, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds) for binary labels and scores (higher = more positive).

    Thresholds are the distinct scores in decreasing order, preceded by +inf so the curve
    starts at (0, 0); tied scores move the curve diagonally, as they should.
    """
    t = np.asarray(y_true).reshape(-1).astype(bool)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(t) != len(s):
        raise ShapeError(f"roc_curve: {len(t)} labels but {len(s)} scores")
    n_pos, n_neg = t.sum(), (~t).sum()
    if n_pos == 0 or n_neg == 0:
        raise DataError("roc_curve needs at least one positive and one negative sample")
    order = np.argsort(-s, kind="stable")
    s, t = s[order], t[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tps = np.cumsum(t)[last_of_tie]
    fps = np.cumsum(~t)[last_of_tie]
    tpr = np.r_[0.0, tps / n_pos]
    fpr = np.r_[0.0, fps / n_neg]
    return fpr, tpr, np.r_[np.inf, s[last_of_tie]]


def auc(fpr, tpr) -> float:
    """Area under a curve by the trapezoid rule (x must be monotone)."""
    x, y = np.asarray(fpr, dtype=np.float64), np.asarray(tpr, dtype=np.float64)
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2.0))


def roc_auc(y_true, scores) -> float:
    """AUC of the ROC curve: the probability a random positive outscores a random negative."""
    fpr, tpr, _ = roc_curve(y_true, scores)
    return auc(fpr, tpr)
