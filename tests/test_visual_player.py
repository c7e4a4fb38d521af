"""The step player: SVG frames and the self-contained HTML page, driven in a real browser."""

import html
import json
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from visual_helpers import svg_texts

from gradflow import backward_steps, visual
from gradflow.errors import UsageError
from gradflow.examples import seed002_network
from gradflow.visual.graph import GraphView
from gradflow.visual.player import build_frames, player_html


def test_frames_are_forward_then_backward_with_the_chain_rule_panel():
    loss = seed002_network()["L"]
    view = GraphView(loss)
    frames = build_frames(loss, view)
    n_ops = sum(1 for n in view.order if n.op is not None)
    n_back = len(backward_steps(loss))
    assert len(frames) == 1 + n_ops + 1 + n_back
    phases = [f.phase for f in frames]
    assert phases == ["forward"] * (1 + n_ops) + ["backward"] * (1 + n_back)
    assert frames[1 + n_ops - 1].panel[0].endswith(" = 25")  # L = e² at e = 5
    # by hand: L = e², e = 5 → ∂L/∂e = 2e = 10; then e = ytrue − y21 sends −1 × 10 to y21
    first, second = frames[2 + n_ops], frames[3 + n_ops]
    assert first.panel[2] == "local × upstream = contribution: 10 × 1 = 10"
    assert second.panel[0] == "e → y21 (sub)"  # one numbering: the player's, not a second
    assert second.panel[2:] == [
        "local × upstream = contribution: -1 × 10 = -10",
        "accumulated ∂L/∂y21 = -10",
    ]
    assert second.receiver == id(view.order[[id(n) for n in view.order].index(second.receiver)])
    assert second.edge_label.endswith("-1")  # the active edge carries ∂e/∂y21 = −1
    # the panel's maths: ∂e/∂y21 · ∂L/∂e = −1 · 10 = −10, as LaTeX
    assert any("= {-1} \\cdot 10 = {-10}" in m for m in second.maths), second.maths


def test_update_step_with_a_learning_rate():
    """seed 002, slide 8: γ = 0.001 moves w211 from 1 to 1 − 0.001·(−700) = 1.7."""
    loss = seed002_network()["L"]
    view = GraphView(loss)
    frames = build_frames(loss, view, lr=0.001)
    assert [f.phase for f in frames].count("update") == 1 and frames[-1].phase == "update"
    update = frames[-1]
    assert "w211 ← 1 − 0.001·(-700) = 1.7" in update.panel
    params = {id(n) for n in view.order if n.op is None and n.requires_grad}
    assert update.state.nodes == params and set(update.state.data) == params
    assert len(build_frames(loss, view)) == len(frames) - 1  # no lr, no update step
    with pytest.raises(UsageError, match="lr must be a positive number"):
        visual.write_player(loss, "unused.html", lr=-1)


def test_accumulated_gradient_of_an_input_used_twice():
    """x feeds both hidden neurons in seed 002 only as a constant, so use y = w·w instead."""
    from gradflow import Value

    w = Value(3.0, label="w")
    y = w * w
    y.label = "y"
    frames = build_frames(y, GraphView(y))
    back = [f for f in frames if f.phase == "backward"][1:]
    assert [f.panel[-1] for f in back] == ["accumulated ∂L/∂w = 3", "accumulated ∂L/∂w = 6"]


def test_write_frames(tmp_path):
    loss = seed002_network()["L"]
    paths = visual.write_frames(loss, tmp_path / "frames")
    assert [p.name for p in paths[:2]] == ["step_000.svg", "step_001.svg"]
    assert len(paths) == len(build_frames(loss, GraphView(loss)))
    last = paths[-1].read_text()
    texts = svg_texts(last)
    assert "accumulated ∂L/∂w111 = -40" in texts  # the panel is part of the picture
    assert re.search(r'class="edge hl"', last) and re.search(r'class="node hl"', last)


def test_player_page_is_self_contained_and_draws_the_graph_once(tmp_path):
    loss = seed002_network()["L"]
    page = visual.write_player(loss, tmp_path / "player.html", lr=0.001).read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<link" not in page and "@import" not in page and "<script src" not in page
    assert page.count("<svg") == 1  # one graph; the steps switch its highlights and texts
    assert page.count("<tr data-step=") == len(build_frames(loss, GraphView(loss), lr=0.001))
    assert 'id="prev"' in page and 'id="next"' in page and 'id="counter"' in page
    assert "<math" in page and "<mfrac>" in page  # the panel's maths is MathML


def test_player_html_holds_every_step_as_data():
    loss = seed002_network()["L"]
    page = player_html(loss, lr=0.001)
    data = json.loads(re.search(r"const STEPS = (.*?);\n", page)[1].replace("<\\/", "</"))
    frames = build_frames(loss, GraphView(loss), lr=0.001)
    assert [d["phase"] for d in data] == [f.phase for f in frames]
    assert all(d["maths"] and all(m.startswith("<math") for m in d["maths"]) for d in data)
    # every box and edge the steps refer to exists in the one SVG
    ids = set(re.findall(r'<g id="gf_([^"]+)" class="(?:node|edge)', page))
    for d in data:
        assert set(d["set"]) | set(d["nodes"]) <= ids
        assert d["edge"] is None or d["edge"] in ids
    # the first step sets every box; later steps only the boxes that change
    assert len(data[0]["set"]) == len(ids & set(data[0]["set"])) > 10
    assert all(len(d["set"]) <= 2 for d in data[2:-1])


def test_lstm_exercise_player_stays_under_a_megabyte(tmp_path):
    from gradflow.exercises.loader import find
    from gradflow.exercises.runner import render

    paths = render(find("lstm_cell"), str(tmp_path))
    page = next(p for p in paths if p.endswith(".html"))
    size = Path(page).stat().st_size
    assert size <= 1_000_000, f"the LSTM player is {size} bytes"


def test_player_shows_inline_in_jupyter_as_an_iframe():
    loss = seed002_network()["L"]
    shown = visual.player(loss, lr=0.01)._repr_html_()
    assert shown.startswith("<iframe srcdoc=") and "<script" not in shown  # all escaped
    page = html.unescape(re.search(r'srcdoc="([^"]*)"', shown)[1])
    assert page == player_html(loss, lr=0.01)


CHROME_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def browser():
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver_path:
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="gradflow-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROME_FLAGS + [f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


WIDTH = 1000  # a laptop window: text must stay readable, the graph must stay in view


def _state(browser):
    from selenium.webdriver.common.by import By

    return browser.execute_script(
        """
        const q = (s) => Array.from(document.querySelectorAll(s));
        return {
          counter: document.getElementById("counter").textContent,
          title: document.getElementById("title").textContent,
          phase: document.getElementById("phase").textContent,
          active: q("#graph g.node.active").map((g) => g.id).sort(),
          recv: q("#graph g.node.recv").map((g) => g.id),
          updated: q("#graph g.node.update").length,
          edges: q("#graph g.edge.active").map((g) => g.id),
          label: (document.querySelector("#edgelabel text") || {}).textContent || "",
          row: document.querySelector("tr.current").dataset.step,
          maths: q("#maths math").length,
        };"""
    ) | {"By": By}


def _in_view(browser, selector):
    """The element's box lies inside the window (and inside the graph pane for a box)."""
    return browser.execute_script(
        """
        const e = document.querySelector(arguments[0]).getBoundingClientRect();
        const p = document.getElementById("graph").getBoundingClientRect();
        const inWindow = (r) => r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight
          && r.right <= innerWidth && r.width > 0;
        return inWindow(p) && e.left >= p.left && e.right <= p.right && e.top >= p.top
          && e.bottom <= p.bottom;""",
        selector,
    )


def test_player_in_a_real_browser(browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    nodes = seed002_network()
    loss = nodes["L"]
    view = GraphView(loss)
    n_frames = len(build_frames(loss, view, lr=0.001))
    page = visual.write_player(loss, tmp_path / "player.html", lr=0.001)
    browser.set_window_size(WIDTH, 800)
    browser.get(page.as_uri())
    start = _state(browser)
    assert start["counter"] == f"Step 1 / {n_frames}" and start["row"] == "0"
    assert start["maths"] >= 5  # the given values, as MathML
    browser.find_element(By.ID, "next").click()
    after_click = _state(browser)
    assert after_click["counter"] == f"Step 2 / {n_frames}" and after_click["row"] == "1"
    assert after_click["active"] != start["active"] and len(after_click["active"]) == 1
    assert after_click["title"] != start["title"]
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.ARROW_RIGHT)
    after_key = _state(browser)
    assert after_key["row"] == "2" and after_key["active"] != after_click["active"]
    body.send_keys(Keys.ARROW_LEFT)
    assert _state(browser) == after_click
    # a row far down the table: the graph stays in view and shows the step
    first_backward = 2 + sum(1 for n in view.order if n.op is not None)
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-step="{first_backward + 1}"]')
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", row)
    row.click()
    step = _state(browser)
    assert step["counter"] == f"Step {first_backward + 2} / {n_frames}"
    assert step["title"] == "e → y21 (sub)" and step["phase"] == "backward"
    assert step["active"] == ["gf_" + view.node_id(nodes["e"])]
    assert step["recv"] == ["gf_" + view.node_id(nodes["y21"])]  # the input receiving −10
    assert len(step["edges"]) == 1 and step["label"].endswith("-1")
    assert _in_view(browser, "#graph g.node.active") and _in_view(browser, "#graph g.node.recv")
    texts = browser.execute_script(
        "return Array.from(document.querySelectorAll('#gf_' + arguments[0] + ' text'))"
        ".map((t) => t.textContent)",
        view.node_id(nodes["y21"]),
    )
    assert texts[-1] == "grad -10"  # the receiving box shows its new gradient
    # the last step updates every parameter
    body.send_keys(Keys.END)
    last = _state(browser)
    assert last["phase"] == "update" and last["counter"] == f"Step {n_frames} / {n_frames}"
    assert last["updated"] == 7 and last["maths"] == 8  # γ, then one line per parameter
    w211 = browser.execute_script(
        "return document.querySelector('#gf_' + arguments[0] + ' text:nth-of-type(2)').textContent",
        view.node_id(nodes["w211"]),
    )
    assert w211 == "data 1.7"
    assert browser.find_element(By.ID, "next").get_attribute("disabled")


def test_player_text_is_readable_at_1000px_and_zooms(browser, tmp_path):
    """Every text of graph, panel and table at least 11 px high at a 1000 px wide window,
    measured as the browser lays it out; the zoom buttons change the graph's scale."""
    from gradflow.exercises.loader import find

    loss = find("lstm_cell").solve().loss  # the biggest graph of the exercises
    page = visual.write_player(loss, tmp_path / "lstm.html", lr=0.1)
    browser.set_window_size(WIDTH, 800)
    browser.get(page.as_uri())
    sizes = browser.execute_script(
        """
        const px = (e) => parseFloat(getComputedStyle(e).fontSize);
        const svg = Array.from(document.querySelectorAll("#graph svg text"))
          .map((t) => px(t) * t.getScreenCTM().a);
        const html = Array.from(document.querySelectorAll("#side td, #side th, #title, button"))
          .map(px);
        return {svg: Math.min(...svg), html: Math.min(...html), n: svg.length,
                width: innerWidth};"""
    )
    assert sizes["width"] == WIDTH and sizes["n"] > 50
    assert sizes["svg"] >= 11 and sizes["html"] >= 11, sizes
    scale = "return document.querySelector('#graph svg').getBoundingClientRect().width"
    before = browser.execute_script(scale)
    from selenium.webdriver.common.by import By

    browser.find_element(By.ID, "zoomout").click()
    assert browser.execute_script(scale) < before
    browser.find_element(By.ID, "zoomfit").click()
    fitted = browser.execute_script(
        "const p = document.getElementById('graph').getBoundingClientRect();"
        "const s = document.querySelector('#graph svg').getBoundingClientRect();"
        "return s.width <= p.width + 1 && s.height <= p.height + 1;"
    )
    assert fitted
    assert page.stat().st_size <= 1_000_000


def test_tensor_graph_frames_show_shapes_and_vjp_rules(tmp_path):
    import numpy as np

    from gradflow import Tensor

    a = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True, label="A")
    b = Tensor(np.ones((3, 2)), requires_grad=True, label="B")
    product = a @ b
    hidden = product.relu()
    loss = hidden.sum()
    loss.label = "L"
    view = GraphView(loss)
    p, h = view.names[id(product)], view.names[id(hidden)]
    frames = build_frames(loss, view)
    assert frames[1].panel == [f"{frames[1].step} = [[3, 3], [12, 12]]"]
    assert frames[1].maths[0].endswith("\\begin{bmatrix} 3 & 3 \\\\ 12 & 12 \\end{bmatrix}")
    panels = {f.step: f.panel for f in frames if f.phase == "backward"}
    # ReLU of a positive matrix passes g through: local ⊙ upstream elementwise
    assert panels[f"{h} → {p}"][2].endswith(
        "[[1, 1], [1, 1]] ⊙ [[1, 1], [1, 1]] = [[1, 1], [1, 1]]"
    )
    # ∂L/∂B = Aᵀ g with g all ones: column sums of A, by hand [[3, 3], [5, 5], [7, 7]]
    assert panels[f"{p} → B"][1] == f"local ∂{p}/∂B = Aᵀ @ g"
    assert panels[f"{p} → B"][3] == "accumulated ∂L/∂B = [[3, 3], [5, 5], [7, 7]]"
    assert visual.write_player(loss, tmp_path / "t.html").stat().st_size > 1000
