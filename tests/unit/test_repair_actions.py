"""The repair agent's text actions (agents.repair.actions): the first well-formed block wins, edits apply
exactly or not at all, and a repeated action is noticed."""

from __future__ import annotations

import pytest

from agents.repair.actions import Action, Edit, MalformedAction, RepeatGuard, apply_edits, parse_action


def test_a_bash_block_is_a_command_and_extra_blocks_are_counted_not_run() -> None:
    action = parse_action("Let me look.\n```bash\nls -la\n```\nand then\n```bash\ncat setup.py\n```")
    assert (action.kind, action.body, action.ignored) == ("bash", "ls -la", 1)
    assert parse_action("```sh\ngrep -rn foo .\n```").kind == "bash"


def test_write_edit_and_done_blocks() -> None:
    write = parse_action("```write /tmp/factory-repair/reproduce.py\nimport x\nassert x.f() == 2\n```")
    assert (write.kind, write.path, write.body) == ("write", "/tmp/factory-repair/reproduce.py",
                                                    "import x\nassert x.f() == 2\n")
    edit = parse_action("```edit src/x.py\n<<<<<<< SEARCH\n    return 1\n=======\n    return 2\n>>>>>>> REPLACE\n```")
    assert edit.edits == (Edit("    return 1", "    return 2"),) and edit.path == "src/x.py"
    assert parse_action("```done\nsrc/x.py\nf\n```") == Action("done", "src/x.py\nf")


@pytest.mark.parametrize(("reply", "problem"), [
    ("I think the bug is in x.py.", "no action block"),
    ("```python\nprint(1)\n```", "no action block"),
    ("```bash\n\n```", "empty"),
    ("```write\ncontent\n```", "names its file"),
    ("```edit src/x.py\nreturn 2\n```", "SEARCH"),
])
def test_replies_without_a_usable_action_say_what_is_wrong(reply: str, problem: str) -> None:
    with pytest.raises(MalformedAction, match=problem):
        parse_action(reply)


def test_a_malformed_block_before_a_good_one_does_not_hide_it() -> None:
    assert parse_action("```write\nx\n```\n```bash\nls\n```").body == "ls"


def test_edits_apply_only_when_every_search_text_is_found_once() -> None:
    text = "def f():\n    return 1\n\ndef g():\n    return 1\n"
    assert apply_edits(text, (Edit("def f():\n    return 1", "def f():\n    return 2"),)).startswith(
        "def f():\n    return 2")
    with pytest.raises(MalformedAction, match="found 2 times"):
        apply_edits(text, (Edit("    return 1", "    return 3"),))
    with pytest.raises(MalformedAction, match="edit 2: the SEARCH text is not found"):
        apply_edits(text, (Edit("def f():", "def f1():"), Edit("def h():", "x")))
    with pytest.raises(MalformedAction, match="not found"):
        apply_edits(text, (Edit("", "x"),))


def test_the_repeat_guard_counts_identical_actions_in_a_row() -> None:
    guard = RepeatGuard(limit=3)
    ls, cat = Action("bash", "ls"), Action("bash", "cat x")
    assert [guard.seen(a) for a in (ls, ls, cat, cat, cat)] == [1, 2, 1, 2, 3]
    assert guard.exhausted


@pytest.mark.parametrize("echo", [
    "```bash, ```write PATH, ```edit PATH or ```done.\n```",  # a 0.5B model echoing our hint (real replies)
    "```bash, ```write transactions.py\n```edit transactions.py or ```done.\n```",
    "Use ```bash blocks.\n```\n",
])
def test_fences_inside_a_sentence_are_no_action(echo: str) -> None:
    with pytest.raises(MalformedAction, match="no action block"):
        parse_action(echo)


def test_a_bare_done_line_ends_the_stage_and_an_empty_write_is_refused() -> None:
    assert parse_action("done\nsrc/tinyledger/ledger.py\nInvoice.total") == Action(
        "done", "src/tinyledger/ledger.py\nInvoice.total")
    with pytest.raises(MalformedAction, match="write block for /tmp/a.py is empty"):
        parse_action("```write /tmp/a.py\n\n```")


def test_done_in_a_bash_fence_or_on_the_first_line_is_an_answer_not_a_command() -> None:
    """Real 0.5B replies: a done answer inside a bash fence, and a bare done line followed by a fenced edit."""
    assert parse_action("```bash\ndone\n\nsrc/mypkg/core.py\n```") == Action("done", "src/mypkg/core.py")
    reply = "done\n\nsrc/x.py\n```edit src/x.py\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n```"
    assert parse_action(reply).kind == "done"
    assert parse_action("```bash\ndone_file.sh\n```").kind == "bash"
