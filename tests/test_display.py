"""Numbers rounded for reading, and the rich display Jupyter shows for gradflow's objects."""

from html.parser import HTMLParser

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradflow import Tensor, backward_steps, check_symbolic, display, forward_steps
from gradflow.examples import seed002_network


class _Parsed(HTMLParser):
    """Collects text and checks that every opened tag is closed (HTML that parses)."""

    VOID = {"img", "br", "hr", "meta", "input", "col"}

    def __init__(self, page: str):
        super().__init__()
        self.stack, self.text = [], []
        self.feed(page)
        self.close()
        assert not self.stack, f"unclosed tags: {self.stack}"

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def text_of(page: str) -> str:
    return " ".join(_Parsed(page).text)


@pytest.mark.parametrize(
    "x, shown",
    [(2.776e-17, "0"), (-0.0, "0"), (-1e-13, "0"), (1 / 3, "0.3333"), (-10, "-10"),
     (123456.0, "1.235e+05"), (np.inf, "∞"), (np.nan, "nan")],
)  # fmt: skip
def test_number(x, shown):
    assert display.number(x) == shown


@given(st.floats(min_value=-1e300, max_value=1e300))
def test_number_never_shows_minus_zero(x):
    s = display.number(x)
    assert s != "-0" and not s.startswith("-0e")
    assert float(s) == pytest.approx(0.0 if abs(x) < 1e-12 else x, rel=1e-3, abs=1e-300)


def test_arrays_in_full_as_grids_or_summarized():
    assert display.array([0.02, 0.6]) == "[0.02, 0.6]"
    grid = display.array(np.arange(6.0).reshape(2, 3) - 2.5)
    assert grid == "[[-2.5, -1.5, -0.5]\n [ 0.5,  1.5,  2.5]]"
    assert display.array(np.eye(2), grid=False) == "[[1, 0], [0, 1]]"
    assert display.array(np.array([1.0, 1e-17])) == "[1, 0]"  # noise against the array's scale
    big = display.array(np.arange(40.0).reshape(10, 4))
    assert big == "10×4: 0, 1, 2, 3, … (min 0, max 39)"
    assert display.array(np.arange(16.0)).count(",") == 15  # 16 elements: all of them


def test_latex_and_mathml():
    assert display.latex_name("w111") == "w_{111}"
    assert display.latex_name("h_prev") == "h_{\\mathrm{prev}}"
    assert display.latex_name("W_0_1") == "W_{0,1}"
    assert display.latex(-10, signed=True) == "({-10})"
    assert display.latex(np.eye(2)) == "\\begin{bmatrix} 1 & 0 \\\\ 0 & 1 \\end{bmatrix}"
    m = display.mathml("\\frac{\\partial L}{\\partial w_{111}} = 20")
    assert m.startswith("<math") and "<mfrac>" in m and "∂" in m
    assert "".join(_Parsed(m).text) == "∂L∂w111=20"


def test_value_and_tensor_show_name_data_and_grad():
    nodes = seed002_network()
    w = nodes["w211"]
    assert "no grad yet" in text_of(w._repr_html_())
    nodes["L"].backward()
    shown = text_of(w._repr_html_())
    assert "Value w211" in shown and "1" in shown.split()
    assert "-700" in shown  # ∂L/∂w211 by hand: 2(y21 − ytrue)·y11 = 2·(−5)·70
    assert w._repr_latex_() == "$w_{211} = 1$"
    t = Tensor(np.arange(6.0).reshape(2, 3) - 1e-17, requires_grad=True, label="A")
    (t * t).sum().backward()
    shown = text_of(t._repr_html_())
    assert "Tensor A" in shown and "2×3" in shown and "-0" not in shown.split()
    assert [s for s in shown.split() if s in {"8", "10"}] == ["8", "10"]  # grad 2A, in a grid
    assert t._repr_latex_().startswith("$A = \\begin{bmatrix}")


def test_step_lists_show_as_tables():
    loss = seed002_network()["L"]
    back = backward_steps(loss)
    assert repr(back) == back.table()  # not a raw list of BackwardStep(...)
    shown = text_of(back._repr_html_())
    assert shown.count("\n") == 0 and "y21" in shown and "-700" in shown
    assert back._repr_markdown_().startswith("| # | node |")
    assert "25" in text_of(forward_steps(loss)._repr_html_())


def test_history_shows_a_table_and_a_loss_plot():
    from gradflow.training.loop import History

    h = History([{"epoch": k, "train_loss": 1.0 / k, "val_loss": None} for k in range(1, 31)])
    page = h._repr_html_()
    shown = text_of(page)
    assert "30 epochs" in shown and "0.3333" in shown and "…" in shown  # 12 of 30 rows
    assert 'src="data:image/png;base64,' in page
    assert "val_loss" not in shown  # a column with no value is left out
    assert display.history_png(h.epochs)[:8] == b"\x89PNG\r\n\x1a\n"
    assert "no epochs" in History()._repr_html_()


def test_symbolic_report_and_exercise():
    from gradflow.exercises.loader import find

    report = check_symbolic(seed002_network()["L"])
    shown = text_of(report._repr_html_())
    assert "every derivative matches" in shown and "∂L/∂w211" in shown and "-700" in shown
    ex = find("seed002_network")
    shown = text_of(ex._repr_html_())
    assert ex.title in shown and "= ?" in shown
    assert "70" not in shown.split()  # the questions, not the answers (y11 = 70)
    assert "y11 = ?" in shown
