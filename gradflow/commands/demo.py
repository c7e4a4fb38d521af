"""``gradflow demo``: the main job — everything gradflow is for, in one command."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("demo", help="run the tour: seed-002 backprop step by step, checked")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..examples import seed002_network
    from ..steps import backward_steps, forward_steps
    from ..symbolic import check_symbolic

    nodes = seed002_network()
    loss = nodes["L"]
    print("Seed 002, slides 6-8: y11 = max(20x − 10, 0), y12 = max(40x − 200, 0),")
    print("y21 = max(y11 − y12, 0), L = (ytrue − y21)², at x = 4, ytrue = 75\n")
    print("Forward pass")
    print(forward_steps(loss).table(), "\n")
    print("Backward pass (local derivative × upstream gradient = contribution)")
    print(backward_steps(loss).table(), "\n")
    loss.backward()
    grads = ", ".join(
        f"∂L/∂{k} = {nodes[k].grad:g}"
        for k in ("w111", "b11", "w121", "b12", "w211", "w212", "b21")
    )
    print(grads, "\n")
    report = check_symbolic(loss)
    print("SymPy check:", "every derivative matches the engine" if report.ok else "MISMATCH")
    return 0 if report.ok else 1
