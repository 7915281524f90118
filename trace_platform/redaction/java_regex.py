"""RE2 patterns (the rules' syntax, DuckDB's engine) as java.util.regex patterns of the same meaning
(Spark's regexp_replace / regexp_extract_all / rlike), and RE2 rewrite strings as Java replacements.

    to_java(pattern) -> str        raises UnsupportedPattern for what it cannot translate faithfully
    to_java_rewrite(replacement) -> str

A pattern is parsed and written back with the differences between the engines made explicit:

- case folding: RE2's (?i) folds by Unicode simple case folding, Java's by ASCII only (or by its own
  Unicode rules under (?u), which also let `i` match `İ`). No Java flag is used: every letter of a
  case-insensitive part becomes a class of its case variants (`s` -> `[sSſ]`, `k` -> `[kKK]`);
- `\\b` / `\\B`: ASCII word boundaries in RE2, Unicode ones in Java before 19: written as lookarounds
  on [0-9A-Za-z_];
- `\\s` is [\\t\\n\\f\\r ] in RE2, and also \\x0B in Java; `.` excludes only \\n in RE2, every line
  terminator in Java; `$` is the end of the text in RE2, also before a final line terminator in
  Java (written `\\z`);
- `[` and `&&` are literal inside an RE2 class, a nested class / an intersection in Java: class
  members are written escaped (`\\[`, `\\&`), non-ASCII and control characters as `\\x{...}`;
- a literal `{` that starts no repetition is a literal in RE2, an error in Java;
- Java's backtracking matcher recurses once per iteration of a repeated group of variable length,
  so `(?:[a-z]|\\\\n)*` over a thousand characters overflows the stack of a Spark task thread, which
  ends the local Spark JVM (RE2 has no such limit). A greedy `(?:C|R...)*` whose first alternative
  is one character C is written `C*(?:(?:R...)C*)*`: the same alternatives tried in the same order
  (so the same match), with one recursion per R instead of per character. A repeated group after
  which nothing can fail (up to the end of the pattern) is made possessive, which changes no match;
  any other unbounded repetition of a group is bounded to GROUP_REPEAT_LIMIT iterations (a
  different match only beyond that);
- Java tries a match at every position and rescans a run from each, RE2 reads the text once: a
  pattern starting with a run `C+` followed by a character not in C starts only where the run does
  (a lookbehind; the same matches), and another leading run is bounded to LEADING_RUN_LIMIT
  characters.

Possessive quantifiers (`*+`, `++`, `?+`, `{n,m}+`), which RE2 lacks, are accepted and kept, for the
compiler's own patterns (see compiler._nested). Backreferences, `\\C`, `\\pN` case-folded letter
categories and non-ASCII letters under (?i) are refused (UnsupportedPattern, a RedactionConfigError).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from trace_platform.redaction.rules import RedactionConfigError

INF = -1
_WORD = "[0-9A-Za-z_]"
_SPACE = [(9, 10), (12, 13), (32, 32)]  # RE2 \s: \t \n \f \r and space
_DIGIT = [(48, 57)]
_WORD_RANGES = [(48, 57), (65, 90), (95, 95), (97, 122)]
_POSIX = {
    "alnum": [(48, 57), (65, 90), (97, 122)],
    "alpha": [(65, 90), (97, 122)],
    "ascii": [(0, 127)],
    "blank": [(9, 9), (32, 32)],
    "cntrl": [(0, 31), (127, 127)],
    "digit": [(48, 57)],
    "graph": [(33, 126)],
    "lower": [(97, 122)],
    "print": [(32, 126)],
    "punct": [(33, 47), (58, 64), (91, 96), (123, 126)],
    "space": [(9, 13), (32, 32)],
    "upper": [(65, 90)],
    "word": _WORD_RANGES,
    "xdigit": [(48, 57), (65, 70), (97, 102)],
}
# Unicode simple case folding orbits of ASCII letters that hold a non-ASCII character
_FOLD_EXTRA = {"s": 0x17F, "k": 0x212A}
_CONTROL_ESCAPES = {"t": 9, "n": 10, "r": 13, "f": 12, "v": 11, "a": 7}


class UnsupportedPattern(RedactionConfigError):
    """An RE2 construct this translation does not carry over to Java."""


# ---- syntax tree ---------------------------------------------------------------------------------


@dataclass
class _Class:
    ranges: list[tuple[int, int]]
    named: list[str]  # Java class items written as is (\p{L}, a nested negated class)
    negated: bool = False


@dataclass
class _Assert:
    java: str


@dataclass
class _Group:
    node: object
    kind: str  # "(" capturing, "(?:" non-capturing, "(?<name>" named


@dataclass
class _Concat:
    items: list


@dataclass
class _Alt:
    branches: list


@dataclass
class _Repeat:
    node: object
    low: int
    high: int  # INF: unbounded
    mode: str  # "" greedy, "?" lazy, "+" possessive


@dataclass
class _Flags:
    i: bool = False
    m: bool = False
    s: bool = False
    u: bool = False  # RE2 U: ungreedy


# ---- parsing --------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, pattern: str):
        self.p = pattern
        self.i = 0
        self.flags = _Flags()

    def error(self, message: str) -> UnsupportedPattern:
        return UnsupportedPattern(f"{message} at offset {self.i} of {self.p!r}")

    def peek(self, n: int = 0) -> str:
        return self.p[self.i + n] if self.i + n < len(self.p) else ""

    def parse(self):
        node = self.alternation()
        if self.i != len(self.p):
            raise self.error("unbalanced ')'")
        return node

    def alternation(self):
        branches = [self.concat()]
        while self.peek() == "|":
            self.i += 1
            branches.append(self.concat())
        return branches[0] if len(branches) == 1 else _Alt(branches)

    def concat(self):
        items: list = []
        while self.i < len(self.p) and self.peek() not in "|)":
            atom = self.atom()
            if atom is None:  # a flag group: changes the flags, matches nothing
                continue
            if isinstance(atom, _Concat):  # \Q...\E: a repetition applies to its last character
                if not atom.items:
                    continue
                items.extend(atom.items[:-1])
                atom = atom.items[-1]
            items.append(self.quantified(atom))
        return items[0] if len(items) == 1 else _Concat(items)

    def quantified(self, atom):
        while True:
            c = self.peek()
            if c in ("*", "+", "?"):
                self.i += 1
                low, high = {"*": (0, INF), "+": (1, INF), "?": (0, 1)}[c]
            elif c == "{":
                m = re.compile(r"\{(\d+)(?:(,)(\d*))?\}").match(self.p, self.i)
                if not m:
                    return atom  # a literal brace: read by the next atom
                self.i = m.end()
                low = int(m.group(1))
                high = low if not m.group(2) else (int(m.group(3)) if m.group(3) else INF)
            else:
                return atom
            if isinstance(atom, _Repeat) or isinstance(atom, _Assert):
                raise self.error("a repetition of a repetition or an assertion")
            mode = ""
            if self.peek() in ("?", "+"):
                mode = self.peek()
                self.i += 1
            if self.flags.u and mode != "+":
                mode = "" if mode == "?" else "?"
            atom = _Repeat(atom, low, high, mode)

    def atom(self):
        c = self.peek()
        if c == "(":
            return self.group()
        if c == "[":
            return self.char_class()
        if c == "\\":
            return self.escape()
        self.i += 1
        if c == ".":
            return _Class([(0, 0x10FFFF)], []) if self.flags.s else _Class([(10, 10)], [], negated=True)
        if c == "^":
            return _Assert("(?:^|(?<=\\n))" if self.flags.m else "^")
        if c == "$":
            return _Assert("(?=\\n|\\z)" if self.flags.m else "\\z")
        if c in "*+?":
            raise self.error("missing argument to repetition operator")
        return self.literal(ord(c))

    def literal(self, cp: int):
        return self.fold(_Class([(cp, cp)], []))

    def fold(self, cls: _Class) -> _Class:
        """The class closed under RE2's case folding, when (?i) is on."""
        if not self.flags.i:
            return cls
        ranges = list(cls.ranges)
        for lo, hi in cls.ranges:
            for a, b, shift in ((97, 122, -32), (65, 90, 32)):
                x, y = max(lo, a), min(hi, b)
                if x <= y:
                    ranges.append((x + shift, y + shift))
            if lo > 127 or hi > 127:
                x, y = max(lo, 128), hi
                if y - x > 0x3000 or any(
                    chr(cp).lower() != chr(cp) or chr(cp).upper() != chr(cp)
                    for cp in range(x, y + 1)
                    if cp not in _FOLD_EXTRA.values()
                ):
                    raise self.error("a case-insensitive non-ASCII letter")
        for letter, extra in _FOLD_EXTRA.items():
            members = (ord(letter), ord(letter.upper()), extra)
            if any(lo <= m <= hi for lo, hi in ranges for m in members):
                ranges += [(m, m) for m in members]
        for item in cls.named:
            if re.fullmatch(r"\\[pP]\{L[ult]\}", item):
                raise self.error("a case-folded letter category")
        return _Class(_merge(ranges), cls.named, cls.negated)

    def group(self):
        self.i += 1  # (
        kind = "("
        if self.peek() == "?":
            m = re.compile(r"\?(?:P?<([A-Za-z][A-Za-z0-9_]*)>|([imsU]*)(?:-([imsU]*))?([:)]))").match(
                self.p, self.i
            )
            if not m:
                raise self.error("an unknown group construct")
            self.i = m.end()
            if m.group(1):
                kind = f"(?<{m.group(1)}>"
            else:
                on, off, end = m.group(2), m.group(3) or "", m.group(4)
                if not on and not off and end == ")":
                    raise self.error("an empty flag group")
                new = _Flags(**vars(self.flags))
                for letters, value in ((on, True), (off, False)):
                    for f in letters:
                        setattr(new, "u" if f == "U" else f, value)
                if end == ")":  # (?i): for the rest of the enclosing group
                    self.flags = new
                    return None
                kind = "(?:"
                saved, self.flags = self.flags, new
                node = self.alternation()
                self.close()
                self.flags = saved
                return _Group(node, kind)
        saved = _Flags(**vars(self.flags))
        node = self.alternation()
        self.close()
        self.flags = saved
        return _Group(node, kind)

    def close(self):
        if self.peek() != ")":
            raise self.error("missing ')'")
        self.i += 1

    def escape(self):
        self.i += 1  # backslash
        c = self.peek()
        if not c:
            raise self.error("a trailing backslash")
        if c == "b":
            self.i += 1
            return _Assert(f"(?:(?<={_WORD})(?!{_WORD})|(?<!{_WORD})(?={_WORD}))")
        if c == "B":
            self.i += 1
            return _Assert(f"(?:(?<={_WORD})(?={_WORD})|(?<!{_WORD})(?!{_WORD}))")
        if c == "A":
            self.i += 1
            return _Assert("^")
        if c == "z":
            self.i += 1
            return _Assert("\\z")
        if c == "Q":
            end = self.p.find("\\E", self.i + 1)
            text = self.p[self.i + 1 : end if end >= 0 else len(self.p)]
            self.i = end + 2 if end >= 0 else len(self.p)
            return _Concat([self.literal(ord(ch)) for ch in text])
        cls = self.class_escape()
        if cls.negated or cls.named or len(cls.ranges) != 1 or cls.ranges[0][0] != cls.ranges[0][1]:
            return self.fold(cls)
        return self.literal(cls.ranges[0][0])

    def class_escape(self) -> _Class:
        """An escape after the backslash, as a class (a single character: one one-character range)."""
        c = self.peek()
        self.i += 1
        if c in "dDwWsS":
            ranges = {"d": _DIGIT, "w": _WORD_RANGES, "s": _SPACE}[c.lower()]
            return _Class(list(ranges), [], negated=c.isupper())
        if c in "pP":
            if self.peek() == "{":
                end = self.p.find("}", self.i)
                if end < 0:
                    raise self.error("an unterminated \\p{")
                name, self.i = self.p[self.i + 1 : end], end + 1
            else:
                name = self.peek()
                self.i += 1
            negated = c == "P"
            if name.startswith("^"):
                name, negated = name[1:], not negated
            if name == "Any":
                return _Class([(0, 0x10FFFF)], [], negated)
            if not re.fullmatch(r"[A-Za-z_]+", name):
                raise self.error(f"an unknown Unicode class {name!r}")
            java = name if len(name) <= 2 else f"Is{name}"
            return _Class([], [f"\\p{{{java}}}"], negated)
        if c == "x":
            if self.peek() == "{":
                end = self.p.find("}", self.i)
                digits, self.i = self.p[self.i + 1 : end], end + 1
            else:
                digits, self.i = self.p[self.i : self.i + 2], self.i + 2
            if not re.fullmatch(r"[0-9A-Fa-f]{1,6}", digits):
                raise self.error("a bad \\x escape")
            cp = int(digits, 16)
            return _Class([(cp, cp)], [])
        if c in _CONTROL_ESCAPES:
            cp = _CONTROL_ESCAPES[c]
            return _Class([(cp, cp)], [])
        if c.isascii() and not c.isalnum():
            return _Class([(ord(c), ord(c))], [])
        raise self.error(f"the escape \\{c}")

    def char_class(self):
        self.i += 1  # [
        negated = self.peek() == "^"
        if negated:
            self.i += 1
        ranges: list[tuple[int, int]] = []
        named: list[str] = []
        first = True
        while True:
            c = self.peek()
            if not c:
                raise self.error("a missing ']'")
            if c == "]" and not first:
                self.i += 1
                break
            first = False
            if c == "[" and self.peek(1) == ":":
                m = re.compile(r"\[:(\^?)([a-z]+):\]").match(self.p, self.i)
                if not m or m.group(2) not in _POSIX:
                    raise self.error("an unknown POSIX class")
                self.i = m.end()
                self.add(_Class(list(_POSIX[m.group(2)]), [], bool(m.group(1))), ranges, named)
                continue
            lo = self.class_char()
            if isinstance(lo, _Class):
                self.add(lo, ranges, named)
                continue
            if self.peek() == "-" and self.peek(1) not in ("]", ""):
                self.i += 1
                hi = self.class_char()
                if isinstance(hi, _Class) or hi < lo:
                    raise self.error("a bad class range")
                ranges.append((lo, hi))
            else:
                ranges.append((lo, lo))
        return self.fold(_Class(_merge(ranges), named, negated))

    def class_char(self):
        c = self.peek()
        if c == "\\":
            self.i += 1
            cls = self.class_escape()
            if (
                not cls.negated
                and not cls.named
                and len(cls.ranges) == 1
                and cls.ranges[0][0] == cls.ranges[0][1]
            ):
                return cls.ranges[0][0]
            return cls
        self.i += 1
        return ord(c)

    def add(self, cls: _Class, ranges: list, named: list) -> None:
        """A class escape (\\d, \\S, \\p{L}, [:alpha:]) as members of the enclosing class."""
        if not cls.negated:
            ranges.extend(cls.ranges)
            named.extend(cls.named)
        elif cls.named and not cls.ranges:
            named.extend(item.replace("\\p", "\\P", 1) for item in cls.named)
        else:
            if self.flags.i and any(lo <= 122 and hi >= 65 for lo, hi in cls.ranges):
                raise self.error("a negated class of letters inside a case-insensitive class")
            named.append(_class_java(_Class(_merge(cls.ranges), [], True)))


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return [(lo, hi) for lo, hi in out]


# ---- writing Java ---------------------------------------------------------------------------------


_JAVA_ESCAPES = {9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r"}


def _char_java(cp: int, in_class: bool = False) -> str:
    """One character as a Java pattern literal: metacharacters escaped, control and non-ASCII
    characters as escapes."""
    if cp in _JAVA_ESCAPES:
        return _JAVA_ESCAPES[cp]
    if cp < 32 or cp >= 127:
        return f"\\x{{{cp:X}}}"
    special = "\\[]^-&" if in_class else "\\^$.|?*+()[]{}"
    return "\\" + chr(cp) if chr(cp) in special else chr(cp)


def _class_java(cls: _Class) -> str:
    items = []
    for lo, hi in cls.ranges:
        if lo == hi:
            items.append(_char_java(lo, True))
        elif hi == lo + 1:
            items.append(_char_java(lo, True) + _char_java(hi, True))
        else:
            items.append(f"{_char_java(lo, True)}-{_char_java(hi, True)}")
    items += cls.named
    if cls.negated and any(item.startswith("[") for item in cls.named):
        raise UnsupportedPattern("a negated class holding a negated class")
    if not items:
        raise UnsupportedPattern("an empty character class")
    if not cls.negated and not cls.named and len(cls.ranges) == 1 and cls.ranges[0][0] == cls.ranges[0][1]:
        return _char_java(cls.ranges[0][0])
    return "[" + ("^" if cls.negated else "") + "".join(items) + "]"


def _min_length(node) -> int:
    if isinstance(node, _Class):
        return 1
    if isinstance(node, _Assert):
        return 0
    if isinstance(node, _Group):
        return _min_length(node.node)
    if isinstance(node, _Concat):
        return sum(_min_length(n) for n in node.items)
    if isinstance(node, _Alt):
        return min(_min_length(n) for n in node.branches)
    if isinstance(node, _Repeat):
        return node.low * _min_length(node.node)
    raise AssertionError(node)


def _cannot_fail(node) -> bool:
    """True when the node matches (the empty string at least) wherever it is tried."""
    if isinstance(node, _Class | _Assert):
        return False
    if isinstance(node, _Group):
        return _cannot_fail(node.node)
    if isinstance(node, _Concat):
        return all(_cannot_fail(n) for n in node.items)
    if isinstance(node, _Alt):
        return any(_cannot_fail(n) for n in node.branches)
    if isinstance(node, _Repeat):
        return node.low == 0 or _cannot_fail(node.node)
    raise AssertionError(node)


def _quantifier(low: int, high: int, mode: str) -> str:
    q = {(0, INF): "*", (1, INF): "+", (0, 1): "?"}.get((low, high))
    if q is None:
        q = f"{{{low}}}" if low == high else f"{{{low},}}" if high == INF else f"{{{low},{high}}}"
    return q + mode


# Java's matcher recurses once per iteration of a repeated group (not of a single character class):
# a group repeated without bound is written possessively where that changes nothing (nothing after
# it can fail, so it is never backtracked into), else bounded to this many iterations.
GROUP_REPEAT_LIMIT = 100


def _write(node, tail: bool = False) -> str:
    """Java for a node; `tail`: nothing after it up to the end of the pattern can fail to match."""
    if isinstance(node, _Class):
        return _class_java(node)
    if isinstance(node, _Assert):
        return node.java
    if isinstance(node, _Group):
        return node.kind + _write(node.node, tail) + ")"
    if isinstance(node, _Concat):
        items = node.items
        return "".join(
            _write(n, tail and all(_cannot_fail(m) for m in items[k + 1 :])) for k, n in enumerate(items)
        )
    if isinstance(node, _Alt):
        return "|".join(_write(n, tail) for n in node.branches)
    if isinstance(node, _Repeat):
        return _repeat(node, tail)
    raise AssertionError(node)


def _atom(node) -> str:
    text = _write(node)
    return "(?:" + text + ")" if isinstance(node, _Concat | _Alt) else text


def _group_loop(tail: bool, mode: str) -> str:
    """The quantifier of an unbounded repetition of a group (see GROUP_REPEAT_LIMIT)."""
    return "*+" if tail and mode == "" else f"{{0,{GROUP_REPEAT_LIMIT}}}{mode}"


def _repeat(node: _Repeat, tail: bool) -> str:
    inner = node.node
    if isinstance(inner, _Class) or node.high != INF or node.mode == "+":
        return _atom(inner) + _quantifier(node.low, node.high, node.mode)
    # `(?:C|R...)*` (greedy, C one character) as `C*(?:(?:R...)C*)*`: the same alternatives tried in
    # the same order, so the same match, with one iteration of the group per R instead of per C
    if node.mode == "" and node.low <= 1 and isinstance(inner, _Group) and inner.kind == "(?:":
        if isinstance(inner.node, _Alt) and isinstance(inner.node.branches[0], _Class):
            first, *rest = inner.node.branches
            if all(_min_length(r) > 0 for r in rest):
                c = _class_java(first)
                star = f"{c}*(?:(?:{'|'.join(_write(r) for r in rest)}){c}*){_group_loop(tail, '')}"
                return star if node.low == 0 else _write(inner) + star
    text = _atom(inner)
    return text * node.low + text + _group_loop(tail, node.mode)


def _in_class(cp: int, cls: _Class) -> bool | None:
    """Whether cls holds cp (None: cannot tell here)."""
    if any(lo <= cp <= hi for lo, hi in cls.ranges):
        return not cls.negated
    for item in cls.named:
        m = re.fullmatch(r"\\([pP])\{([A-Z][a-z]?)\}", item)
        if not m:
            return None
        if unicodedata.category(chr(cp)).startswith(m.group(2)) == (m.group(1) == "p"):
            return not cls.negated
    return cls.negated


# A leading run (`\\b[A-Za-z0-9_.-]*password`, `\\b[a-z][a-z0-9+.-]*://`) is scanned by Java from every
# position it could start at to the end of the run, quadratic in the run's length (RE2 is linear):
# such a run is bounded to this many characters (the same match unless the run before the rest of
# the pattern is longer; a match starting at a later word boundary of the run gives the same text).
LEADING_RUN_LIMIT = 1000


def _guarded(node, exact: bool = True):
    """The pattern with the starts of a match that Java would try in vain cut or bounded. At the
    places a match starts (the pattern, its alternatives, leading groups):
    - `C+` followed by a character not in C: such a match is the leftmost only if it starts where
      the run of C does (or where the search does, \\G), so a lookbehind cuts the other starts;
    - else a run `C*` / `C+` after assertions and at most one character is bounded (above)."""
    if isinstance(node, _Alt):
        return _Alt([_guarded(b, exact) for b in node.branches])
    if isinstance(node, _Group):
        return _Group(_guarded(node.node, exact), node.kind)
    if not isinstance(node, _Concat):
        return node
    items = list(node.items)
    k = 0
    while k < len(items) and isinstance(items[k], _Assert):
        if items[k].java == "^":  # anchored: one start only
            return node
        k += 1
    if k < len(items) and isinstance(items[k], _Group):
        items[k] = _guarded(items[k], exact and k == 0)
        return _Concat(items)
    if exact and k == 0 and len(items) > 1 and _run_before_other(items[0], items[1]):
        return _Concat([_Assert(f"(?:(?<!{_class_java(items[0].node)})|\\G)"), *items])
    j = k + 1 if k < len(items) and isinstance(items[k], _Class) else k
    run = items[j] if j < len(items) else None
    if isinstance(run, _Repeat) and isinstance(run.node, _Class) and run.high == INF and run.mode != "+":
        # a first character (`[a-z]` before `[a-z0-9+.-]*`) counts when a match can start at any
        # character of the run, i.e. when it is one of the run's characters
        if j == k or _within(items[k], run.node):
            items[j] = _Repeat(run.node, run.low, max(run.low, LEADING_RUN_LIMIT), run.mode)
    return _Concat(items)


def _within(first: _Class, run: _Class) -> bool:
    """Every character of `first` is one of `run`'s (as far as their ranges tell)."""
    if first.negated or first.named or run.negated:
        return False
    return all(any(a <= lo and hi <= b for a, b in run.ranges) for lo, hi in first.ranges)


def _run_before_other(first, following) -> bool:
    """first is a run C+ and following starts with a character never in C."""
    if isinstance(following, _Repeat) and following.low >= 1:
        following = following.node
    return (
        isinstance(first, _Repeat)
        and isinstance(first.node, _Class)
        and first.low >= 1
        and first.high == INF
        and first.mode == ""
        and isinstance(following, _Class)
        and not following.negated
        and not following.named
        and sum(hi - lo + 1 for lo, hi in following.ranges) <= 256
        and all(_in_class(cp, first.node) is False for lo, hi in following.ranges for cp in range(lo, hi + 1))
    )


def to_java(pattern: str) -> str:
    """The RE2 `pattern` as a java.util.regex pattern matching the same text in the same way (within
    GROUP_REPEAT_LIMIT iterations of a repeated group not at the end, LEADING_RUN_LIMIT characters
    of a leading run)."""
    return _write(_guarded(_Parser(pattern).parse()), tail=True)


def to_java_rewrite(replacement: str) -> str:
    """An RE2 rewrite string (\\1..\\9 groups, \\\\ a backslash) as a java.util.regex replacement."""
    out, i = [], 0
    while i < len(replacement):
        c = replacement[i]
        if c == "\\":
            nxt = replacement[i + 1 : i + 2]
            if nxt.isdigit():
                out.append("$" + nxt)
            elif nxt == "\\":
                out.append("\\\\")
            else:
                raise UnsupportedPattern(f"the rewrite escape \\{nxt} in {replacement!r}")
            i += 2
            continue
        # a digit right after a group reference would extend it ($1 then 0 is not $10)
        out.append("\\" + c if c in "$\\" or (c.isdigit() and out and out[-1].startswith("$")) else c)
        i += 1
    return "".join(out)
