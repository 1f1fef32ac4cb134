"""Build the built-in example: ``acme/tinyledger``, a small Python project with a realistic history.

The demo and the integration tests mine this repository instead of the network. Every commit is made
with fixed author, committer and dates, so the same script always yields the same shas (and so the
same instance ids). ``EXPECTED`` says what the factory must conclude for each commit, by subject.

Run it directly to create the repository somewhere: ``python -m examples.tinyledger /tmp/tinyledger``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from textwrap import dedent

SLUG = "acme/tinyledger"

#: subject of each first-parent commit -> the outcome the factory must reach for it.
EXPECTED: dict[str, str] = {
    "Initial import of tinyledger": "not a candidate",
    "Round amounts to the nearest cent": "valid",
    "Merge pull request #7 from dev/discount-clamp": "valid",
    "Accept negative amounts in parentheses": "valid",
    "Tidy report rendering and test it": "rejected(pass2pass)",
    "Try to support currency symbols": "rejected(fail2fail)",
    "Add tag export": "rejected(flaky)",
    "Add optional fast JSON dependency": "not a candidate",
    "Group thousands in formatted amounts": "build_failed",
    "Drop the fast JSON dependency": "not a candidate",
    "Document the command line in the README": "not a candidate",
}

_PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "tinyledger"
version = "0.3.0"
description = "Tiny invoices with exact cents."
requires-python = ">=3.9"
dependencies = [
    "tabulate>=0.9",{extra_dep}
]

[project.optional-dependencies]
test = ["pytest>=7"]

[tool.setuptools.packages.find]
where = ["src"]
"""

_MONEY_V0 = '''\
"""Money amounts, kept as integer cents."""


def parse_amount(text: str) -> int:
    """Parse ``"12.34"``, ``"$12.34"`` or ``"1,234.50"`` into cents."""
    cleaned = text.strip().lstrip("$").replace(",", "")
    return int(float(cleaned) * 100)


def format_amount(cents: int) -> str:
    """Format cents as ``$12.34`` (``-$0.50`` for negative amounts)."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}${cents // 100}.{cents % 100:02d}"
'''

_LEDGER_V0 = '''\
"""Invoices: lines of (description, cents) and an optional discount."""

from dataclasses import dataclass, field


@dataclass
class Invoice:
    lines: list = field(default_factory=list)
    discount: int = 0

    def add(self, description: str, cents: int) -> None:
        self.lines.append((description, cents))

    def subtotal(self) -> int:
        return sum(cents for _, cents in self.lines)

    def total(self) -> int:
        return self.subtotal() - self.discount
'''

_REPORT_V0 = '''\
"""Plain-text invoice reports."""

from tabulate import tabulate

from tinyledger.money import format_amount


def render(invoice) -> str:
    rows = []
    for description, cents in invoice.lines:
        rows.append([description, format_amount(cents)])
    rows.append(["TOTAL", format_amount(invoice.total())])
    table = tabulate(rows, headers=["Item", "Amount"], tablefmt="simple")
    return table
'''

_TEST_MONEY_V0 = '''\
from tinyledger.money import format_amount, parse_amount


def test_parse_plain():
    assert parse_amount("12.50") == 1250


def test_parse_dollar_sign_and_commas():
    assert parse_amount("$1,234.00") == 123400


def test_format_amount():
    assert format_amount(1250) == "$12.50"
    assert format_amount(-50) == "-$0.50"
'''

_TEST_LEDGER_V0 = '''\
from tinyledger.ledger import Invoice


def test_total_with_discount():
    invoice = Invoice(discount=100)
    invoice.add("tea", 300)
    assert invoice.total() == 200
'''


def _files_initial() -> dict[str, str]:
    return {
        "pyproject.toml": _PYPROJECT.format(extra_dep=""),
        "README.md": "# tinyledger\n\nTiny invoices with exact cents.\n",
        "src/tinyledger/__init__.py": '"""tinyledger: tiny invoices with exact cents."""\n',
        "src/tinyledger/money.py": _MONEY_V0,
        "src/tinyledger/ledger.py": _LEDGER_V0,
        "src/tinyledger/report.py": _REPORT_V0,
        "tests/test_money.py": _TEST_MONEY_V0,
        "tests/test_ledger.py": _TEST_LEDGER_V0,
    }


class _Git:
    """Runs git in the new repository with a fixed identity and a clock that ticks one hour a commit."""

    def __init__(self, root: Path):
        self.root = root
        self.tick = 0

    def __call__(self, *args: str) -> str:
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "Ada Example",
            "GIT_AUTHOR_EMAIL": "ada@example.com",
            "GIT_COMMITTER_NAME": "Ada Example",
            "GIT_COMMITTER_EMAIL": "ada@example.com",
            "GIT_AUTHOR_DATE": _date(self.tick),
            "GIT_COMMITTER_DATE": _date(self.tick),
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_CONFIG_NOSYSTEM": "1",
        }
        out = subprocess.run(["git", *args], cwd=self.root, env=env, check=True, capture_output=True, text=True)
        return out.stdout

    def write(self, files: dict[str, str]) -> None:
        for rel, text in files.items():
            path = self.root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)

    def commit(self, message: str, files: dict[str, str]) -> None:
        self.write(files)
        self("add", "-A")
        self("commit", "-q", "-m", message)
        self.tick += 1


def _date(tick: int) -> str:
    day, hour = divmod(tick, 8)
    return f"2024-03-{1 + day:02d}T{9 + hour:02d}:00:00+00:00"


def create(root: Path) -> Path:
    """Create the example repository at ``root`` (which must not exist or be empty); return it."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    if any(root.iterdir()):
        raise FileExistsError(f"{root} is not empty")
    g = _Git(root)
    g("init", "-q", "-b", "main")
    g("remote", "add", "origin", f"https://git.example.com/{SLUG}.git")
    g.commit("Initial import of tinyledger", _files_initial())

    # 1. A genuine fix whose test is a brand-new file.
    money = _MONEY_V0.replace(
        '"""Money amounts, kept as integer cents."""\n',
        '"""Money amounts, kept as integer cents."""\n\nfrom decimal import ROUND_HALF_UP, Decimal\n',
    ).replace(
        "    return int(float(cleaned) * 100)\n",
        '    return int((Decimal(cleaned) * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))\n',
    )
    g.commit(
        "Round amounts to the nearest cent\n\nfloat() truncation turned $19.99 into 1998 cents.",
        {
            "src/tinyledger/money.py": money,
            "tests/test_rounding.py": dedent(
                """\
                from tinyledger.money import parse_amount


                def test_no_float_truncation():
                    assert parse_amount("19.99") == 1999


                def test_half_cent_rounds_up():
                    assert parse_amount("0.005") == 1
                    assert parse_amount("2.675") == 268
                """
            ),
        },
    )

    # 2. A pull request merged with a merge commit: fix and test on a branch.
    g("checkout", "-q", "-b", "dev/discount-clamp")
    g.commit(
        "Clamp discounts to the invoice subtotal",
        {"src/tinyledger/ledger.py": _LEDGER_V0.replace(
            "return self.subtotal() - self.discount", "return max(0, self.subtotal() - self.discount)")},
    )
    g.commit(
        "Test discount clamping",
        {"tests/test_ledger.py": _TEST_LEDGER_V0 + dedent(
            """\


            def test_discount_never_makes_total_negative():
                invoice = Invoice(discount=500)
                invoice.add("tea", 300)
                assert invoice.total() == 0
            """
        )},
    )
    g("checkout", "-q", "main")
    g("merge", "-q", "--no-ff", "dev/discount-clamp", "-m",
      "Merge pull request #7 from dev/discount-clamp\n\nDiscounts larger than the subtotal made totals negative.")
    g.tick += 1
    g("branch", "-q", "-D", "dev/discount-clamp")

    # 3. A fix that names the issue it resolves.
    money = money.replace(
        '    cleaned = text.strip().lstrip("$").replace(",", "")\n',
        '    cleaned = text.strip()\n'
        '    if cleaned.startswith("(") and cleaned.endswith(")"):\n'
        '        cleaned = "-" + cleaned[1:-1]\n'
        '    cleaned = cleaned.replace("$", "").replace(",", "")\n',
    )
    test_money = _TEST_MONEY_V0 + dedent(
        """\


        def test_parse_accounting_negative():
            assert parse_amount("(12.50)") == -1250
        """
    )
    g.commit(
        "Accept negative amounts in parentheses\n\nAccounting exports write -12.50 as (12.50).\n\nFixes #12",
        {"src/tinyledger/money.py": money, "tests/test_money.py": test_money},
    )

    # 4. A refactor whose new test already passes before the change: pass2pass.
    g.commit(
        "Tidy report rendering and test it",
        {
            "src/tinyledger/report.py": _REPORT_V0.replace(
                "    rows = []\n    for description, cents in invoice.lines:\n"
                "        rows.append([description, format_amount(cents)])\n",
                "    rows = [[description, format_amount(cents)] for description, cents in invoice.lines]\n",
            ).replace(
                '    table = tabulate(rows, headers=["Item", "Amount"], tablefmt="simple")\n    return table\n',
                '    return tabulate(rows, headers=["Item", "Amount"], tablefmt="simple")\n',
            ),
            "tests/test_report.py": dedent(
                """\
                from tinyledger.ledger import Invoice
                from tinyledger.report import render


                def test_render_lists_lines_and_total():
                    invoice = Invoice()
                    invoice.add("tea", 300)
                    text = render(invoice)
                    assert "tea" in text and "$3.00" in text
                    assert text.splitlines()[-1].split() == ["TOTAL", "$3.00"]
                """
            ),
        },
    )

    # 5. An incomplete fix: its own test still fails afterwards (fail2fail).
    test_money += dedent(
        """\


        def test_parse_currency_symbols():
            assert parse_amount("£5") == 500
            assert parse_amount("€5") == 500
        """
    )
    g.commit(
        "Try to support currency symbols",
        {
            "src/tinyledger/money.py": money.replace('.replace("$", "")', '.replace("$", "").replace("£", "")'),
            "tests/test_money.py": test_money,
        },
    )
    money = money.replace('.replace("$", "")', '.replace("$", "").replace("£", "")')

    # 6. A feature whose tests depend on set order, which changes with every interpreter (flaky).
    # Each test passes in about half of all interpreters, independently of the others, so two runs
    # give identical per-test outcomes with probability 2**-12: the default reruns flag it.
    pairs = [("b", "a"), ("tax", "food"), ("zeta", "alpha"), ("q", "p"), ("rent", "fuel"), ("y", "x"),
             ("work", "home"), ("n", "m"), ("gift", "bank"), ("wine", "salt"), ("k", "j"), ("toys", "milk")]
    tests = "from tinyledger.tags import export_tags\n"
    for i, (first, second) in enumerate(pairs):
        tests += (
            f"\n\ndef test_export_is_sorted_{i}():\n"
            f'    assert export_tags(["{first}", "{second}"]) == "{second},{first}"\n'
        )
    g.commit(
        "Add tag export",
        {
            "src/tinyledger/tags.py": (
                '"""Tags attached to invoice lines."""\n\n\n'
                "def export_tags(tags):\n"
                '    """Comma-separated, de-duplicated, lower-cased tags."""\n'
                '    return ",".join({tag.strip().lower() for tag in tags})\n'
            ),
            "tests/test_tags.py": tests,
        },
    )

    # 7-9. A dependency that does not exist on PyPI makes the next fix's base uninstallable.
    g.commit(
        "Add optional fast JSON dependency",
        {"pyproject.toml": _PYPROJECT.format(extra_dep='\n    "tinyledger-fastjson-does-not-exist>=1.0",')},
    )
    g.commit(
        "Group thousands in formatted amounts",
        {
            "src/tinyledger/money.py": money.replace("{cents // 100}.", "{cents // 100:,}."),
            "tests/test_money.py": test_money + dedent(
                """\


                def test_format_groups_thousands():
                    assert format_amount(123456789) == "$1,234,567.89"
                """
            ),
        },
    )
    g.commit("Drop the fast JSON dependency", {"pyproject.toml": _PYPROJECT.format(extra_dep="")})

    # 10. Documentation only: not a candidate.
    g.commit(
        "Document the command line in the README",
        {"README.md": "# tinyledger\n\nTiny invoices with exact cents.\n\n## Usage\n\n    python -m tinyledger\n"},
    )
    return root


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m examples.tinyledger DIR")
    print(create(Path(sys.argv[1])))
