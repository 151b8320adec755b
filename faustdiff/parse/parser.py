"""Faust source text -> syntax tree (`faustdiff.parse.ast`).

The grammar lives in `grammar/faust.lark` (shipped as `faustdiff.grammar`). Its
terminal definitions are compiled into `_Scanner`, a lexer that behaves like Faust's
own (longest match, keywords reserved everywhere) and is much faster than Lark's
generic one. Lark's LALR parser then calls the `_Builder` callbacks directly while it
parses (no intermediate parse tree).

Spans: line and column are 1-based; `end_line`/`end_column` point just past the last
character of the construct (Lark's convention).

Every syntax error becomes one `FaustSyntaxError` whose message speaks Faust, not Lark.
"""
from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Dict, Iterator, Optional, Tuple, Union

import lark
from lark import Token, Transformer, v_args
from lark.exceptions import UnexpectedInput, UnexpectedToken
from lark.lexer import Lexer, PatternStr

from ..cachedir import writable_subdir
from ..errors import FaustSyntaxError, Span
from . import ast, grammar_tables
from .source import line_column, read_source

__all__ = ["parse_string", "parse_file", "read_source"]

# How a user reads the terminals whose pattern is not a plain string.
_TERMINAL_WORDS = {
    "IDENT": "a name",
    "INTEGER": "a number",
    "REAL": "a number",
    "STRING": "a string",
    "INCLUDE_FILE": "an include file such as <math.h>",
    "DOC": "an <mdoc> block",
    "MERGE": "':>'",
    "PRIME": "\"'\"",
    "$END": "the end of the file",
}

# Terminals of unbounded length, in the order the scanner must try them so that the
# first match is also the longest (as in Faust's lexer): `<mdoc>` before `<math.h>`,
# `1.5` before `1`. Keywords are found through IDENT, operators after these.
_LONG_TERMINALS = ("DOC", "STRING", "REAL", "INTEGER", "IDENT", "INCLUDE_FILE")

# Bracket terminals: each opening one with its closing one.
_CLOSER_OF = {"LPAR": "RPAR", "LBRACK": "RBRACK", "LBRACE": "RBRACE"}
_CLOSERS = frozenset(_CLOSER_OF.values())

# How the constructs with a fixed list of arguments are written (for hints).
_SLIDER = '("label", init, min, max, step)'
_USAGE = {
    **{kind: kind + _SLIDER for kind in ("hslider", "vslider", "nentry")},
    **{kind: f'{kind}("label")' for kind in ("button", "checkbox")},
    **{kind: f'{kind}("label", min, max)' for kind in ("hbargraph", "vbargraph")},
    **{kind: f'{kind}("label", expression)' for kind in ("hgroup", "vgroup", "tgroup")},
    **{kind: f"{kind}(i, count, expression)" for kind in ("par", "seq", "sum", "prod")},
    "route": "route(inputs, outputs, (from, to), ...)",
    "soundfile": 'soundfile("label", channels)',
    "ffunction": 'ffunction(type name(argument types), <include.h>, "library")',
    "fconstant": "fconstant(type name, <include.h>)",
    "fvariable": "fvariable(type name, <include.h>)",
}

# Words Faust's lexer reserves although no grammar rule uses them (Lark drops unused
# terminals, so they are added here). They reach the parser as tokens it never accepts.
_RESERVED_ONLY = {"minput": "MINPUT"}

_INT32 = 1 << 32

# A byte-order mark may start a file; editors do not show it.
_BOM = "\ufeff"


def _wrap_int32(value: int) -> int:
    """Faust reads integer literals into a C int: they wrap around modulo 2**32."""
    value %= _INT32
    return value - _INT32 if value >= _INT32 // 2 else value


def _unquote_label(text: str) -> str:
    """A label/file-name string: drop the quotes; newlines become spaces (as Faust does).

    Faust strings have no escape sequences: a backslash is an ordinary character."""
    return text[1:-1].replace("\n", " ")


def _unquote_raw(text: str) -> str:
    """A metadata or library string: drop the quotes, keep the text as it is."""
    return text[1:-1]


# ---------------------------------------------------------------- tokens
class _Source:
    """The text handed to the scanner, with what the scanner learns about it."""

    def __init__(self, text: str):
        self.text = text
        self.open_comment: Optional[int] = None  # offset of a `/*` never closed


class _LexError(Exception):
    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.message = message
        self.offset = offset


class _Scanner(Lexer):
    """Faust's lexer, built from the terminals of the grammar.

    Lark instantiates it with the grammar's lexer configuration; `lex` gets either a
    plain string or a `_Source` (whose `open_comment` it fills in)."""

    def __init__(self, lexer_conf):
        terminals = {t.name: t for t in lexer_conf.terminals}
        ignored = [terminals[name] for name in lexer_conf.ignore]
        ident = re.compile(terminals["IDENT"].pattern.to_regexp())
        self.keywords: Dict[str, str] = dict(_RESERVED_ONLY)
        self.symbols: Dict[str, str] = {}
        others = []
        for t in terminals.values():
            if t in ignored or t.name in _LONG_TERMINALS:
                continue
            if isinstance(t.pattern, PatternStr):
                table = self.keywords if ident.fullmatch(t.pattern.value) else self.symbols
                table[t.pattern.value] = t.name
            else:
                others.append(t)
        unordered = [t.name for t in others if t.pattern.max_width > 16]
        if unordered:
            raise RuntimeError(f"faust.lark: add {unordered} to _LONG_TERMINALS in parser.py")
        groups = [f"(?P<{n}>{terminals[n].pattern.to_regexp()})" for n in _LONG_TERMINALS]
        others.sort(key=lambda t: -t.pattern.max_width)
        groups += [f"(?P<{t.name}>{t.pattern.to_regexp()})" for t in others]
        operators = sorted(self.symbols, key=len, reverse=True)
        groups.append("(?P<SYMBOL>" + "|".join(re.escape(o) for o in operators) + ")")
        self.token_re = re.compile("|".join(groups))
        skip = "|".join(t.pattern.to_regexp() for t in ignored)
        self.skip_re = re.compile(f"(?:{skip})*")
        self.ignore_re = re.compile(
            "|".join(f"(?P<{t.name}>{t.pattern.to_regexp()})" for t in ignored)
        )

    def lex(self, source) -> Iterator[Token]:
        if isinstance(source, str):
            source = _Source(source)
        text = source.text
        size = len(text)
        skip, match = self.skip_re.match, self.token_re.match
        keywords, symbols = self.keywords, self.symbols
        line, line_start, counted, last_end = 1, 0, 0, 0
        pos = skip(text, 0).end()
        while pos < size:
            found = match(text, pos)
            if found is None:
                raise _LexError(_bad_character_message(text, pos), pos)
            kind = found.lastgroup
            value = found.group()
            end = found.end()
            if kind == "IDENT":
                kind = keywords.get(value, "IDENT")
            elif kind == "SYMBOL":
                kind = symbols[value]
            elif kind == "DOC" and not value.endswith("</mdoc>"):
                raise _LexError("this <mdoc> block is never closed (</mdoc> is missing)", pos)
            newlines = text.count("\n", counted, pos)
            if newlines:
                line += newlines
                line_start = text.rfind("\n", counted, pos) + 1
            counted = pos
            column = pos - line_start + 1
            if kind in ("STRING", "DOC") and "\n" in value:
                end_line = line + value.count("\n")
                end_column = end - text.rfind("\n", pos, end)
            else:
                end_line, end_column = line, column + (end - pos)
            yield Token(kind, value, pos, line, column, end_line, end_column, end)
            last_end = end
            pos = skip(text, end).end()
        source.open_comment = self._unclosed_comment(text, last_end)

    def _unclosed_comment(self, text: str, start: int) -> Optional[int]:
        """Offset of a `/*` that runs to the end of the file (Faust accepts that silently;
        we only use it to explain an "unexpected end of file")."""
        if "/*" not in text[start:]:
            return None
        pos = start
        while pos < len(text):
            piece = self.ignore_re.match(text, pos)
            if piece.lastgroup == "BLOCK_COMMENT" and (
                not piece.group().endswith("*/") or len(piece.group()) < 4
            ):
                return pos
            pos = piece.end()
        return None


def _bad_character_message(text: str, offset: int) -> str:
    char = text[offset]
    if char == '"':
        return "this string is never closed (a '\"' is missing)"
    shown = repr(char) if not char.isprintable() or char.isspace() else f"'{char}'"
    return f"unexpected character {shown}"


# ---------------------------------------------------------------- spans
def _start_of(item) -> Optional[Tuple[int, int]]:
    if isinstance(item, Token):
        return item.line, item.column
    if isinstance(item, tuple):
        for sub in item:
            found = _start_of(sub)
            if found:
                return found
        return None
    span = getattr(item, "span", None)
    return (span.line, span.column) if span is not None and span.line else None


def _end_of(item) -> Optional[Tuple[int, int]]:
    if isinstance(item, Token):
        return item.end_line, item.end_column
    if isinstance(item, tuple):
        for sub in reversed(item):
            found = _end_of(sub)
            if found:
                return found
        return None
    span = getattr(item, "span", None)
    if span is None or not span.line:
        return None
    return span.end_line, span.end_column


# ---------------------------------------------------------------- tree building
@v_args(inline=True)
class _Builder(Transformer):
    """Turns each grammar rule into an ast node as soon as the parser reduces it.

    One instance serves every parse; `file` is set (under the parser lock) before each."""

    def __init__(self):
        super().__init__()
        self.file = "<string>"

    # -- helpers
    def _span(self, first, last=None) -> Span:
        start = _start_of(first)
        end = _end_of(first if last is None else last)
        if start is None:
            return Span(self.file, 0, 0)
        if end is None:
            end = start
        return Span(self.file, start[0], start[1], end[0], end[1])

    def _error(self, message: str, where, hint: str = "") -> FaustSyntaxError:
        return FaustSyntaxError(message, self._span(where), hint)

    # -- statements
    def module(self, *statements):
        return tuple(s for s in statements if s is not None)

    def statement(self, *items):
        *prefixes, stmt = items
        if isinstance(stmt, Token):  # an <mdoc> block: documentation only
            return None
        if prefixes and not isinstance(stmt, ast.Definition):
            raise self._error(
                f"a precision prefix ('{prefixes[0]}') can only precede a definition",
                prefixes[0],
            )
        return self._with_precision(stmt, prefixes)

    def _with_precision(self, definition, prefixes):
        if not prefixes:
            return definition
        words = " ".join(p.value for p in prefixes)
        return replace(definition, precision=words, span=self._span(prefixes[0], definition))

    def precision(self, token):
        return token

    def simple_def(self, name, body, semi):
        return ast.Definition(name.name, None, body, span=self._span(name, semi))

    def pattern_def(self, name, params, body, semi):
        return ast.Definition(name.name, params, body, span=self._span(name, semi))

    def import_stmt(self, keyword, path, semi):
        return ast.Import(_unquote_label(path.value), span=self._span(keyword, semi))

    def declare_stmt(self, keyword, *items):
        *names, value, semi = items
        span = self._span(keyword, semi)
        text = _unquote_raw(value.value)
        if len(names) == 1:
            return ast.Declare(names[0].name, text, "", span=span)
        return ast.Declare(names[1].name, text, names[0].name, span=span)

    def defs(self, *definitions):
        return tuple(definitions)

    def prefixed_def(self, *items):
        *prefixes, definition = items
        return self._with_precision(definition, prefixes)

    # -- block-diagram composition
    def compose(self, left, op, right):
        symbol = ":>" if op.type == "MERGE" else op.value  # `+>` is another spelling of `:>`
        return ast.Compose(symbol, left, right, span=self._span(left, right))

    def with_expr(self, body, keyword, defs, close):
        return ast.With(body, defs, span=self._span(body, close))

    def letrec_expr(self, body, keyword, *items):
        close = items[-1]
        recs = [i for i in items if isinstance(i, ast.Definition)]
        where = next((items[k + 1] for k, i in enumerate(items)
                      if isinstance(i, Token) and i.type == "WHERE"), ())
        if where:
            # The `where` definitions are visible in the recursive equations only,
            # so each equation gets them as its own local `with`.
            recs = [replace(r, body=ast.With(r.body, where, span=r.body.span)) for r in recs]
        return ast.Letrec(body, tuple(recs), span=self._span(body, close))

    def rec_def(self, prime, name, body, semi):
        return ast.Definition(name.name, None, body, span=self._span(prime, semi))

    def arglist(self, *args):
        return tuple(args)

    # -- infix and postfix
    def binop(self, left, op, right):
        return ast.Infix(op.value, left, right, span=self._span(left, right))

    def prime(self, expr, quote):
        return ast.Prime(expr, span=self._span(expr, quote))

    def access(self, env, name):
        return ast.Access(env, name.name, span=self._span(env, name))

    def apply(self, fn, args, close):
        return ast.Apply(fn, args, span=self._span(fn, close))

    def redefine(self, expr, defs, close):
        return ast.Redefine(expr, defs, span=self._span(expr, close))

    # -- primaries
    def number(self, *tokens):
        sign = -1 if tokens[0].type == "SUB" else 1
        literal = tokens[-1]
        span = self._span(tokens[0], literal)
        if literal.type == "INTEGER":
            return ast.Int(_wrap_int32(sign * _wrap_int32(int(literal.value))), span=span)
        return ast.Real(sign * float(literal.value.rstrip("f")), span=span)

    def negate(self, minus, name):
        # `-x` is Faust's shorthand for `0 - x` (a primitive, so `-x'` is `(0 - x)'`).
        span = self._span(minus, name)
        return ast.Infix("-", ast.Int(0, span=self._span(minus)), name, span=span)

    def wire(self, token):
        return ast.Wire(span=self._span(token))

    def cut(self, token):
        return ast.Cut(span=self._span(token))

    def builtin(self, token):
        return ast.Ident(token.value, span=self._span(token))

    def ident(self, token):
        return ast.Ident(token.value, span=self._span(token))

    def string(self, token):
        return ast.String(_unquote_label(token.value), span=self._span(token))

    def lambda_expr(self, backslash, *items):
        *params, body, close = items
        return ast.Lambda(tuple(p.name for p in params), body, span=self._span(backslash, close))

    def case_expr(self, keyword, *items):
        *rules, close = items
        return ast.Case(tuple(rules), span=self._span(keyword, close))

    def case_rule(self, patterns, body, semi):
        return ast.CaseRule(patterns, body, span=self._span(patterns, semi))

    def modulate(self, bracket, *items):
        *targets, body, close = items
        return ast.Modulation(tuple(targets), body, span=self._span(bracket, close))

    def modulation(self, label, *rest):
        modulator = rest[1] if rest else None
        return (_unquote_label(label.value), modulator)

    def iteration(self, kind, var, count, body, close):
        return ast.Iteration(kind.value, var.name, count, body, span=self._span(kind, close))

    def iter_kind(self, token):
        return token

    def slider(self, kind, label, init, low, high, step, close):
        return ast.UIWidget(kind.value, _unquote_label(label.value), (init, low, high, step),
                            span=self._span(kind, close))

    def toggle(self, kind, label, close):
        return ast.UIWidget(kind.value, _unquote_label(label.value), (),
                            span=self._span(kind, close))

    def bargraph(self, kind, label, low, high, close):
        return ast.UIWidget(kind.value, _unquote_label(label.value), (low, high),
                            span=self._span(kind, close))

    def group(self, kind, label, body, close):
        return ast.UIGroup(kind.value, _unquote_label(label.value), body,
                           span=self._span(kind, close))

    def soundfile(self, keyword, label, channels, close):
        return ast.Soundfile(_unquote_label(label.value), channels, span=self._span(keyword, close))

    slider_kind = toggle_kind = bargraph_kind = group_kind = iter_kind

    def environment(self, keyword, *items):
        *statements, close = items
        kept = tuple(s for s in statements if s is not None)
        return ast.EnvironmentExpr(kept, span=self._span(keyword, close))

    def library(self, keyword, path, close):
        return ast.LibraryExpr(_unquote_label(path.value), span=self._span(keyword, close))

    def component(self, keyword, path, close):
        return ast.ComponentExpr(_unquote_label(path.value), span=self._span(keyword, close))

    def inputs_of(self, keyword, expr, close):
        return ast.InputsOf(expr, span=self._span(keyword, close))

    def outputs_of(self, keyword, expr, close):
        return ast.OutputsOf(expr, span=self._span(keyword, close))

    def waveform(self, keyword, *items):
        *values, close = items
        return ast.Waveform(tuple(values), span=self._span(keyword, close))

    def route(self, keyword, ins, outs, *rest):
        pairs = rest[0] if len(rest) == 2 else None
        return ast.Route(ins, outs, pairs, span=self._span(keyword, rest[-1]))

    # -- foreign functions, constants and variables
    def ffunction(self, keyword, signature, include, library, close):
        return ast.FFunction(signature, include, _unquote_raw(library.value),
                             span=self._span(keyword, close))

    def fconstant(self, keyword, ctype, name, include, close):
        return ast.FConstant(ctype, name.name, include, span=self._span(keyword, close))

    def fvariable(self, keyword, ctype, name, include, close):
        return ast.FVariable(ctype, name.name, include, span=self._span(keyword, close))

    def signature(self, result_type, *items):
        names = tuple(i.name for i in items if isinstance(i, ast.Ident))
        arg_types = tuple(i for i in items if isinstance(i, str) and not isinstance(i, Token))
        return ast.ForeignSignature(result_type, names, arg_types)

    def c_type(self, token):
        return str(token.value)

    arg_type = c_type

    def include(self, token):
        # Kept as written (`<math.h>` or `"foo.h"`): it is what follows `#include`.
        return str(token.value)


# ---------------------------------------------------------------- the parser
class _Parser:
    """The Lark parser, its scanner and its builder, created once per process."""

    def __init__(self, from_tables: bool = True):
        """`from_tables`: load the grammar's analysis (the shipped tables, else the user's
        cache) rather than analyse it afresh."""
        grammar = grammar_text()
        self.builder = _Builder()
        self.lark = grammar_tables.load(grammar, transformer=self.builder) if from_tables else None
        if self.lark is None:
            self.lark = lark.Lark(
                grammar,
                start="module",
                parser="lalr",
                lexer=_Scanner,
                transformer=self.builder,
                cache=_grammar_cache_file(grammar) if from_tables else False,
            )
        self.words = self._terminal_words()
        self.keywords = self._keyword_names() | set(_RESERVED_ONLY.values())
        self.lock = threading.Lock()
        # Terminal sets that error messages summarise in one phrase.
        self.statement_starts = self._accepted_after("") - {"$END"}
        self.definition_starts = self._accepted_after("x = y with {") - {"RBRACE"}
        self.operand_starts = self._accepted_after("x = ")
        self.operand_follows = self._accepted_after("x = y") - {"SEMI"}

    def _keyword_names(self) -> set:
        ident_terminal = next(t for t in self.lark.terminals if t.name == "IDENT")
        ident = re.compile(ident_terminal.pattern.to_regexp())
        return {
            t.name
            for t in self.lark.terminals
            if isinstance(t.pattern, PatternStr) and ident.fullmatch(t.pattern.value)
        }

    def _terminal_words(self) -> dict:
        words = dict(_TERMINAL_WORDS)
        words.update({name: f"'{word}'" for word, name in _RESERVED_ONLY.items()})
        for t in self.lark.terminals:
            if isinstance(t.pattern, PatternStr) and t.name not in words:
                words[t.name] = f"'{t.pattern.value}'"
        return words

    def _accepted_after(self, text: str) -> frozenset:
        """The terminals the grammar accepts after `text` (to summarise error messages)."""
        self.builder.file = "<grammar probe>"
        interactive = self.lark.parse_interactive(text)
        interactive.exhaust_lexer()
        return frozenset(interactive.accepts())

    def parse(self, text: str, filename: str) -> ast.Module:
        source = _Source(text)
        with self.lock:
            self.builder.file = filename
            try:
                statements = self.lark.parse(source)
            except _LexError as error:
                line, column = line_column(text, error.offset)
                span = Span(filename, line, column, line, column + 1)
                raise FaustSyntaxError(error.message, span) from None
            except UnexpectedToken as error:
                raise self._unexpected_token(error, source, filename) from None
            except UnexpectedInput as error:  # not raised by an LALR parser; kept for safety
                span = Span(filename, getattr(error, "line", 0), getattr(error, "column", 0))
                raise FaustSyntaxError("syntax error", span) from None
        return ast.Module(statements, file=filename)

    # -- error messages
    def _unexpected_token(self, error: UnexpectedToken, source: _Source,
                          filename: str) -> FaustSyntaxError:
        token = error.token
        # `accepts` replays the parser on each candidate; `expected` (the raw LALR
        # table row) may list terminals that would fail after a reduction.
        expected = set(error.accepts or error.expected)
        hint = ""
        if token.type == "$END":
            # Point just past the last token, where the missing piece belongs.
            line, column = (token.end_line or 1), (token.end_column or 1)
            span = Span(filename, line, column, line, column)
            if source.open_comment is not None:
                opened = line_column(source.text, source.open_comment)[0]
                hint = f"the comment opened with /* at line {opened} is never closed"
            else:
                hint = self._bracket_hint(source.text, token, expected)
        else:
            span = Span(filename, token.line, token.column, token.end_line, token.end_column)
            if token.type in self.keywords and "IDENT" in expected:
                hint = f"'{token.value}' is a reserved word of Faust; it cannot be used as a name"
            elif token.value == "void" and "RPAR" in expected:
                hint = "Faust declares a foreign function without arguments with (), not (void)"
            elif "SEMI" in expected and _first_on_its_line(source.text, token):
                hint = "is a ';' missing at the end of the previous line?"
            elif "SEMI" in expected and token.type == "RBRACE":
                hint = "a definition ends with ';', also the last one before '}'"
            else:
                hint = self._bracket_hint(source.text, token, expected)
        message = f"unexpected {self._describe_token(token)}"
        described = self._describe_expected(expected)
        if described:
            message += f"; expected {described}"
        return FaustSyntaxError(message, span, hint)

    def _bracket_hint(self, text: str, token: Token, expected: set) -> str:
        """When brackets explain the error: how the construct whose arguments are open is
        written, the innermost bracket still open where its closing one is expected, or
        a closing bracket that closes nothing. (A long program with one missing ')'
        otherwise only says "unexpected ';'".)"""
        end = len(text) if token.type == "$END" else token.start_pos
        stack = []  # (opening bracket, the token before it)
        previous = None
        try:
            for t in self.lark.lex(text[:end]):
                if t.type in _CLOSER_OF:
                    stack.append((t, previous))
                elif t.type in _CLOSERS and stack and _CLOSER_OF[stack[-1][0].type] == t.type:
                    stack.pop()
                previous = t
        except _LexError:
            return ""
        if stack:
            opener, before = stack[-1]
            usage = _USAGE.get(before.value) if before is not None and \
                opener.type == "LPAR" else None
            # a ',' or ')' where the other one belongs: too few or too many arguments
            if usage and token.type in ("RPAR", "PAR") and "IDENT" not in expected:
                return f"{before.value} is written {usage}"
            if _CLOSER_OF[opener.type] in expected:
                return (f"the '{opener.value}' at line {opener.line}, column {opener.column} "
                        f"is not closed")
        if token.type in _CLOSERS and not any(_CLOSER_OF[o.type] == token.type
                                              for o, _ in stack):
            return f"this '{token.value}' closes nothing: no bracket of its kind is open here"
        return ""

    def _describe_token(self, token: Token) -> str:
        if token.type == "$END":
            return "end of file"
        value = str(token.value)
        if len(value) > 40:
            value = value[:37] + "..."
        if token.type == "IDENT":
            return f"name '{value}'"
        if token.type in ("INTEGER", "REAL"):
            return f"number {value}"
        if token.type == "STRING":
            return f"string {value}"
        if token.type == "DOC":
            return "<mdoc> block"
        if token.type == "INCLUDE_FILE":
            return f"include file {value}"
        return f"'{value}'"

    def _describe_expected(self, expected: set) -> str:
        phrases = []
        if self.statement_starts <= expected:
            phrases.append("a definition, 'import' or 'declare'")
            expected -= self.statement_starts | {"$END"}
        elif self.definition_starts <= expected:
            phrases.append("a definition")
            expected -= self.definition_starts
        if "IDENT" in expected and "INTEGER" in expected:
            phrases.append("an expression")
            expected -= self.operand_starts
        operators = expected & self.operand_follows
        # "an operator" only when (nearly) all are allowed: after `e with {...}` only
        # the block-diagram ones are, and those are listed.
        if len(operators) >= 0.8 * len(self.operand_follows):
            phrases.append("an operator")
            expected -= operators
        phrases.extend(sorted({self.words.get(name, name.lower()) for name in expected}))
        if len(phrases) > 9:
            return ", ".join(phrases[:8]) + ", ..."
        if len(phrases) <= 1:
            return "".join(phrases)
        return ", ".join(phrases[:-1]) + " or " + phrases[-1]


def _first_on_its_line(text: str, token: Token) -> bool:
    """True when only blanks precede `token` on its line: a missing ';' is likely above."""
    start = token.start_pos
    line_start = text.rfind("\n", 0, start) + 1
    return token.line > 1 and text[line_start:start].strip() == ""


def grammar_text() -> str:
    """The Faust grammar, as shipped in the package."""
    return (resources.files("faustdiff.grammar") / "faust.lark").read_text(encoding="utf-8")


def _grammar_cache_file(grammar: str) -> Union[str, bool]:
    """Where Lark keeps the analysed grammar between processes when the shipped tables do
    not fit the installed Lark (it saves ~0.6 s per start):
    beside the parsed libraries in faustdiff's per-user cache folder, rather than Lark's
    default shared temporary folder, since the cache is a pickle. No cache if not writable."""
    folder = writable_subdir("parsed")
    if folder is None:
        return False
    # (the grammar, Lark and Python an analysis serves, as the shipped tables name them)
    key = grammar_tables.header_line(grammar).encode("ascii")
    return str(folder / f"grammar-{hashlib.sha256(key).hexdigest()[:20]}.lark")


_parser: Optional[_Parser] = None
_parser_lock = threading.Lock()


def _get_parser() -> _Parser:
    global _parser
    if _parser is None:
        with _parser_lock:
            if _parser is None:
                _parser = _Parser()
    return _parser


# ---------------------------------------------------------------- public API
def parse_string(text: str, filename: str = "<string>") -> ast.Module:
    """Parse Faust source text. Raises FaustSyntaxError (with file, line, column)."""
    if not isinstance(text, str):
        # a caller's mistake, not the program's: say so instead of failing deep in Lark
        raise TypeError(f"Faust source must be a str, not {type(text).__name__}"
                        + (" (decode the bytes first)" if isinstance(text, bytes) else ""))
    # A byte-order mark is invisible in an editor: drop it so that columns count from
    # the first visible character (text from a file or from a string alike).
    if text.startswith(_BOM):
        text = text[len(_BOM):]
    return _get_parser().parse(text, filename)


def parse_file(path: Union[str, Path]) -> ast.Module:
    """Parse a Faust file (UTF-8). Unreadable, binary or empty files raise a FaustDiffError."""
    name = str(path)
    text = read_source(name)
    return parse_string(text, name)
