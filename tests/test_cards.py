"""The flash-card deck: every card's demonstration exists and runs; the `cards` command."""

import io
from pathlib import Path

import pytest

from gradflow.cli import main
from gradflow.errors import UsageError
from gradflow.exercises.cards import load_cards, notebook_section_exists, run_demo, select
from gradflow.exercises.loader import load_all

ROOT = Path(__file__).resolve().parent.parent
CARDS = load_cards()


def test_the_deck_covers_seed_004():
    assert len(CARDS) >= 25
    questions = " ".join(c.question for c in CARDS)
    seed004 = ("perceptron", "ADALINE", "equal", "Dropout", "LSTM", "pooling", "Adam",
               "cross-validation", "autoencoder", "1×1", "VGG", "GoogLeNet", "ResNet")  # fmt: skip
    for topic in seed004:
        assert topic.lower() in questions.lower(), topic
    assert {c.demo for c in CARDS} <= {"exercise", "notebook", "command"}


@pytest.mark.parametrize("card", CARDS, ids=lambda c: c.question[:40])
def test_every_card_demonstration_exists_and_runs(card):
    if card.demo == "exercise":
        assert card.target in {e.name for e in load_all()}
    elif card.demo == "notebook":
        assert notebook_section_exists(card, ROOT / "docs"), card.section
        assert list((ROOT / "docs").glob(f"{card.target}_*.ipynb"))
    out = io.StringIO()
    assert run_demo(card, out) == 0
    assert out.getvalue().strip()


def test_a_command_card_runs_the_command_in_process(tmp_path, capsys):
    (tmp_path / "deck.toml").write_text(
        '[[card]]\ntopic = "t"\nquestion = "Which exercises are there?"\nanswer = "a list"\n'
        'command = "gradflow exercise list"\n'
    )
    assert main(["exercise", "cards", "--path", str(tmp_path), "--run"]) == 0
    out = capsys.readouterr().out
    assert "see it: gradflow exercise list" in out and "perceptron_rule" in out


def test_cards_command_without_a_terminal_prints_answers_and_reads_nothing(capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # input() would raise EOFError
    assert main(["exercise", "cards", "--topic", "the neuron", "--run"]) == 0
    out = capsys.readouterr().out
    assert out.count("answer:") == 2 and "[2/2] (the neuron) What marks ADALINE?" in out
    assert "One step of the perceptron learning rule" in out  # the exercise was shown


def test_topic_is_case_insensitive_and_unknown_topics_are_named(capsys):
    assert select(CARDS, "rnn") == [c for c in CARDS if c.topic == "RNN"]
    assert main(["exercise", "cards", "--topic", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--topic 'nope': no such topic; known: CNN" in err[0]


@pytest.mark.parametrize(
    "body, message",
    [
        ('topic = "t"\nquestion = "q"\nanswer = "a"\n', "needs exactly one of exercise"),
        (
            'topic = "t"\nquestion = "q"\nanswer = "a"\ncommand = "rm -rf x"\n',
            "command must start with 'gradflow'",
        ),  # fmt: skip
        (
            'topic = "t"\nquestion = ""\nanswer = "a"\nexercise = "adam"\n',
            "needs a non-empty text 'question'",
        ),
        ('topic = "t"\nquestion = "q"\nanswer = "a"\nnotebook = "01"\n', "'section' goes with"),
        ('topic = "t"\nquestion = "q"\nanswer = "a"\nexercise = "x"\nextra = 1\n', "unknown key"),
    ],
)
def test_malformed_cards_are_one_line_naming_file_and_card(tmp_path, body, message):
    (tmp_path / "bad.toml").write_text('[[card]]\ntopic = "t"\nquestion = "q"\nanswer = "a"\n'
                                       'exercise = "adam"\n\n[[card]]\n' + body)  # fmt: skip
    with pytest.raises(UsageError, match=f"bad.toml: card 2: {message}"):
        load_cards(tmp_path)
