"""The shipped LALR tables of the grammar: current, used without analysis, and the same
parser as a fresh analysis gives."""
from __future__ import annotations

import hashlib
import os

import lark
import pytest
from lark.parsers.lalr_analysis import LALR_Analyzer

from faustdiff.errors import FaustSyntaxError
from faustdiff.evaluate.imports import package_library_folders
from faustdiff.parse import grammar_tables, parser

REBUILD = "run `python scripts/build_grammar_tables.py` and commit grammar/faust-lalr-tables.gz"


def test_the_shipped_tables_are_for_this_grammar():
    tables = grammar_tables.shipped()
    assert tables is not None, f"no shipped tables: {REBUILD}"
    expected = hashlib.sha256(parser.grammar_text().encode("utf-8")).hexdigest()
    assert tables[0]["grammar_sha256"] == expected, f"the grammar changed: {REBUILD}"


def _tables_fit_the_installed_lark() -> bool:
    tables = grammar_tables.shipped()
    return tables is not None and tables[0] == grammar_tables.header_for(parser.grammar_text())


def _parse_with(instance, text: str, filename: str = "t.dsp"):
    """parse_string's result (or syntax error message) with `instance` as the parser."""
    saved = parser._parser
    parser._parser = instance
    try:
        return parser.parse_string(text, filename)
    except FaustSyntaxError as error:
        return (error.span.line, error.span.column, error.message, error.hint)
    finally:
        parser._parser = saved


BROKEN = ["process = ;", "process = x with { 1 };", "f(x = 1;", "process = 1 : : 2;",
          "import(\"stdfaust.lib\")\nprocess = _;", "process = a<b>c;", "x = sin(;"]


@pytest.mark.skipif(not _tables_fit_the_installed_lark(),
                    reason=f"tables made for another Lark or Python ({REBUILD} to serve this one)")
def test_the_shipped_tables_give_the_analysed_parser_without_analysing(monkeypatch):
    def no_analysis(self):
        raise AssertionError("the grammar was analysed although the shipped tables fit")

    with monkeypatch.context() as patch:
        patch.setattr(LALR_Analyzer, "compute_lalr", no_analysis)
        from_tables = parser._Parser()
    analysed = parser._Parser(from_tables=False)

    # The sets that error messages summarise come from the parse table itself.
    for name in ("statement_starts", "definition_starts", "operand_starts", "operand_follows"):
        assert getattr(from_tables, name) == getattr(analysed, name), name
    for text in BROKEN:
        assert _parse_with(from_tables, text) == _parse_with(analysed, text), text
    folder = package_library_folders()[0]
    for name in ("stdfaust.lib", "maths.lib", "basics.lib", "filters.lib", "reverbs.lib"):
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            text = f.read()
        assert _parse_with(from_tables, text, name) == _parse_with(analysed, text, name), name


@pytest.mark.parametrize("change", [
    {"grammar_sha256": "0" * 64},
    {"lark": "0.0.1"},
    {"python": "2.7"},
])
def test_tables_made_for_another_grammar_lark_or_python_are_not_used(monkeypatch, change):
    grammar = parser.grammar_text()
    body = grammar_tables.shipped()[1]
    monkeypatch.setattr(grammar_tables, "shipped",
                        lambda: ({**grammar_tables.header_for(grammar), **change}, body))
    assert grammar_tables.load(grammar, transformer=None) is None


def test_unreadable_tables_mean_an_analysis_not_a_failure(monkeypatch):
    grammar = parser.grammar_text()
    monkeypatch.setattr(grammar_tables, "shipped",
                        lambda: (grammar_tables.header_for(grammar), b"not a saved parser"))
    assert grammar_tables.load(grammar, transformer=None) is None
    instance = parser._Parser()  # analyses (or reads the user's cache) instead
    assert isinstance(instance.lark, lark.Lark)
    assert _parse_with(instance, "process = 1;") == parser.parse_string("process = 1;", "t.dsp")


def test_packed_tables_load_without_analysis(monkeypatch):
    grammar = parser.grammar_text()
    data = grammar_tables.pack(grammar, parser._Parser(from_tables=False).lark)
    monkeypatch.setattr(grammar_tables, "shipped", lambda: grammar_tables.unpack(data))
    monkeypatch.setattr(LALR_Analyzer, "compute_lalr", lambda self: pytest.fail("analysed"))
    instance = parser._Parser()
    assert _parse_with(instance, "process = 1;") == parser.parse_string("process = 1;", "t.dsp")
