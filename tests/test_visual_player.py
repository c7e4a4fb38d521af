"""The step player: SVG frames and the self-contained HTML page, driven in a real browser."""

import re
import shutil
import tempfile

import pytest
from visual_helpers import svg_texts

from gradflow import visual
from gradflow import backward_steps
from gradflow.examples import seed002_network
from gradflow.visual.graph import GraphView
from gradflow.visual.player import build_frames


def test_frames_are_forward_then_backward_with_the_chain_rule_panel():
    loss = seed002_network()["L"]
    view = GraphView(loss)
    frames = build_frames(loss, view)
    n_ops = sum(1 for n in view.order if n.op is not None)
    n_back = len(backward_steps(loss))
    assert len(frames) == 1 + n_ops + 1 + n_back
    phases = [f.phase for f in frames]
    assert phases == ["forward"] * (1 + n_ops) + ["backward"] * (1 + n_back)
    assert frames[1 + n_ops - 1].panel == ["Forward: L = e^2 = 25"]
    # by hand: L = e², e = 5 → ∂L/∂e = 2e = 10; then e = ytrue − y21 sends −1 × 10 to y21
    first, second = frames[2 + n_ops], frames[3 + n_ops]
    assert first.panel[2] == "local × upstream = contribution: 10 × 1 = 10"
    assert second.panel[0] == "Backward step 2: e → y21 (sub)"
    assert second.panel[2:] == [
        "local × upstream = contribution: -1 × 10 = -10",
        "accumulated ∂L/∂y21 = -10",
    ]


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


def test_player_page_is_self_contained(tmp_path):
    page = visual.write_player(seed002_network()["L"], tmp_path / "player.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<link" not in page and "@import" not in page and "<script src" not in page
    assert page.count('<div class="frame"') == page.count("<tr data-step=")
    assert 'id="prev"' in page and 'id="next"' in page and 'id="counter"' in page


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


def test_player_in_a_real_browser(browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    nodes = seed002_network()
    loss = nodes["L"]
    view = GraphView(loss)
    n_frames = len(build_frames(loss, view))
    page = visual.write_player(loss, tmp_path / "player.html")
    browser.get(page.as_uri())

    def state():
        (frame,) = [f for f in browser.find_elements(By.CSS_SELECTOR, ".frame") if f.is_displayed()]
        hl_nodes = frame.find_elements(By.CSS_SELECTOR, "g.node.hl title")
        hl_edges = frame.find_elements(By.CSS_SELECTOR, "g.edge.hl")
        return {
            "counter": browser.find_element(By.ID, "counter").text,
            "panel": browser.find_element(By.ID, "panel").text,
            "frame": frame.get_attribute("data-step"),
            "nodes": sorted(t.get_attribute("textContent") for t in hl_nodes),
            "edges": len(hl_edges),
            "row": browser.find_element(By.CSS_SELECTOR, "tr.current").get_attribute("data-step"),
        }

    start = state()
    assert start["counter"].startswith(f"Step 1 / {n_frames}") and start["frame"] == "0"
    browser.find_element(By.ID, "next").click()
    after_click = state()
    assert after_click["counter"].startswith(f"Step 2 / {n_frames}")
    assert after_click["frame"] == after_click["row"] == "1"
    assert after_click["nodes"] != start["nodes"] and len(after_click["nodes"]) == 1
    assert after_click["panel"] != start["panel"]
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.ARROW_RIGHT)
    after_key = state()
    assert after_key["frame"] == "2" and after_key["nodes"] != after_click["nodes"]
    body.send_keys(Keys.ARROW_LEFT)
    assert state() == after_click
    # jump to the backward pass: the edge whose contribution is added lights up too
    first_backward = 2 + sum(1 for n in view.order if n.op is not None)
    browser.find_element(By.CSS_SELECTOR, f'tr[data-step="{first_backward}"]').click()
    back = state()
    assert "local × upstream = contribution: 10 × 1 = 10" in back["panel"]
    assert back["edges"] == 1 and back["nodes"] == [view.node_id(loss)]
    browser.find_element(By.ID, "next").click()
    step2 = state()
    assert "-1 × 10 = -10" in step2["panel"] and step2["nodes"] == [view.node_id(nodes["e"])]
    assert step2["counter"].startswith(f"Step {first_backward + 2} / {n_frames}")


def test_tensor_graph_frames_show_shapes_and_vjp_rules(tmp_path):
    import numpy as np

    from gradflow import Tensor

    a = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True, label="A")
    b = Tensor(np.ones((3, 2)), requires_grad=True, label="B")
    loss = (a @ b).relu().sum()
    loss.label = "L"
    frames = build_frames(loss, GraphView(loss))
    assert frames[1].step == "n1 = A @ B = [[ 3., 3.], [12., 12.]]"
    panels = {f.step: f.panel for f in frames if f.phase == "backward"}
    # ReLU of a positive matrix passes g through: local ⊙ upstream elementwise
    assert panels["n2 → n1"][2].endswith(
        "[[1., 1.], [1., 1.]] ⊙ [[1., 1.], [1., 1.]] = [[1., 1.], [1., 1.]]"
    )
    # ∂L/∂B = Aᵀ g with g all ones: column sums of A, by hand [[3, 3], [5, 5], [7, 7]]
    assert panels["n1 → B"][1] == "local ∂n1/∂B = Aᵀ @ g"
    assert panels["n1 → B"][3] == "accumulated ∂L/∂B = [[3., 3.], [5., 5.], [7., 7.]]"
    assert visual.write_player(loss, tmp_path / "t.html").stat().st_size > 1000
