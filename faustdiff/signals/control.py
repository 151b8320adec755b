"""`enable` and `control`: Faust's conditional computation, lowered to plain signals.

Propagation turns `enable(x, y)` into `control(x * y, y != 0)` and `control(x, y)` into
`control(x, y != 0)`, as the real compiler does. The real compiler then gives every
signal a condition: the outputs are always computed, a `control` node passes its own
condition to y and that condition *and* y to x, every other node passes its condition to
its arguments, and a signal used in several places is computed when any of its uses is
(an OR of ANDs). Its code computes a signal only while its condition holds. Observed
with libfaust 2.85 (dawdreamer; `tests/programs/core/enable_control.dsp`), and what
this module reproduces:

- a control node's value is its x as last computed: x is cached in a variable that
  keeps its value while the condition is false, 0 before the first time;
- a recursion inside does not advance while its condition is false, and neither does a
  delay line of a signal under a condition: a short line (maximum delay below 16, a
  shift register in Faust's code) only shifts when the condition holds; a longer one (a
  ring buffer of 2^k slots) always moves on, but is only written when the condition
  holds, so a read can find the value its slot held one buffer length earlier;
- a table written under a condition is only written while the condition holds;
- x is not cached, and so not held, where the real compiler writes its code inline:
  a constant or a control-rate x (computed outside the sample loop), an x that another
  use needs without the condition (`control(x, c) + x`), a read of a shift register by
  a constant amount (`control(x@3, c)` shows the register, which only moves when the
  condition holds), another control node (`control(control(x, a), b)` is x's code). A
  recursion's output read from a ring buffer is cached under the condition of that read
  alone, not of the whole line;
- a table's init signal is compiled on its own, without conditions: there
  `control(x, y)` is x.

The conditions depend on which signals are shared, so equal recursions are made one
first, as the real compiler's hash-consing makes them. Its normal form can share
differently still (`x * g : + ~ *(0.5 * g)` becomes `g * (x + 0.5 * y')`, where `x * g`
no longer appears); a signal that faustdiff shares across two conditions and Faust does
not (or the reverse) is computed under a different condition.

Three things of the real compiler are not reproduced, being bugs of its code generator:
an x whose normal form is a negation (`control(0 - x, c)`, `control(-2 * x, c)`) is
written inline, outside the condition, and so not held; `prefix` under a condition
declares its state inside the condition's `if` and reads it outside; and the condition
is written out twice, once before computing x and once after the sample to move x's
state on, which by then reads another slot of a recursion kept in a ring buffer
(`control(+(1) ~ _, 1 : + ~ (@(200) : *(0.5)))`: a condition of 1 or more, whose second
reading finds 0, so the counter never moves past 1).

The lowering keeps derivatives exact without rules of their own: a held value is a
recursion `h = select2(condition, h', x)`, whose tangent is held too; a suspended
recursion or delay line is written the same way. It runs at the end of propagation, so
every later stage (differentiation, the interpreter, the kernel, `faustdiff diff`'s
Faust source) sees plain signals only.
"""
from __future__ import annotations

from functools import reduce
from typing import Dict, FrozenSet, Optional, Sequence, Tuple

from ..errors import FaustEvaluationError
from .analysis import AUDIO, collect, collect_with_tables, delay_bound, infer_rates, ring_size
from .nodes import (RecGroup, Sig, TableSpec, _attr_key, const_float, const_int, delay, node,
                    rdtable, recref, rwtable)
from .primitives import Primitive, _register, apply

# A shorter delay line is a shift register in the real compiler's code; a longer one a
# ring buffer of 2^k slots (the compiler's default -mcd 16: a maximum delay of 15 is
# copied, 16 is a ring).
COPY_LIMIT = 16


def _iv_control(x, c):
    # the held value starts at 0
    return (min(x[0], 0.0), max(x[1], 0.0))


def _never_emitted(e, k):
    raise AssertionError("control nodes are lowered to plain signals by propagation")


# control(x, condition): x computed only where the condition (an int 0/1) holds.
_register(Primitive(
    "control", 2, lambda kinds: kinds[0], "any",
    # a constant x is never held: the real compiler writes constants inline
    lambda kinds, x, c: x, _never_emitted, interval=_iv_control,
    convention="lowered before differentiation (signals/control.py): a held value "
               "has a held derivative"))


def enable(x: Sig, y: Sig) -> Sig:
    return apply("control", apply("*", x, y), apply("!=", y, const_float(0.0)))


def control(x: Sig, y: Sig) -> Sig:
    return apply("control", x, apply("!=", y, const_float(0.0)))


# ------------------------------------------------------------------ conditions
# An OR of ANDs of condition signals: a frozenset of conjunctions, each a frozenset of
# atoms (0/1 int signals). TRUE has the empty conjunction; FALSE is the empty set.
Cond = FrozenSet[FrozenSet[Sig]]
TRUE: Cond = frozenset([frozenset()])
FALSE: Cond = frozenset()


def _absorb(conjunctions) -> Cond:
    """The same condition without the conjunctions that imply another one."""
    conjunctions = set(conjunctions)
    if frozenset() in conjunctions:
        return TRUE
    return frozenset(c for c in conjunctions if not any(o < c for o in conjunctions))


def cond_or(a: Cond, b: Cond) -> Cond:
    if a == TRUE or b == TRUE:
        return TRUE
    return _absorb(a | b)


def cond_and(a: Cond, atom: Sig) -> Cond:
    if atom.is_const:
        return a if atom.value != 0 else FALSE
    return _absorb(c | {atom} for c in a)


def annotate(order: Sequence[Sig], outputs: Sequence[Sig],
             bodies: Sequence[Sig] = ()) -> Tuple[Dict[int, Cond], Dict[int, Cond]]:
    """The condition of every node (by id) that the outputs need, and for the bodies of
    recursions, the condition of their value alone: the real compiler reads a
    recursion's output and its delayed values (feedback included) from one line, each
    read a signal of its own, and the line is written when any read needs it."""
    cond: Dict[int, Cond] = {}
    value: Dict[int, Cond] = {}
    is_body = {id(b) for b in bodies}

    def join(table: Dict[int, Cond], s: Sig, c: Cond) -> bool:
        # a node needed under FALSE only (control(x, 0)) is recorded as such: one that
        # is absent from the table is computed always
        old = table.get(id(s))
        new = c if old is None else cond_or(old, c)
        if new == old:
            return False
        table[id(s)] = new
        return True

    def use(parent: Sig, s: Sig, c: Cond) -> bool:
        changed = join(cond, s, c)
        if id(s) in is_body and not (parent.op == "delay" and parent.args[0] is s):
            changed |= join(value, s, c)
        return changed

    for o in outputs:
        join(cond, o, TRUE)
        join(value, o, TRUE)
    changed = True
    while changed:   # more than once only where a recursion feeds a condition back
        changed = False
        for s in reversed(order):   # users before their arguments
            c = cond.get(id(s))
            if c is None:
                continue
            if s.op == "control":
                x, atom = s.args
                changed |= use(s, atom, c)
                changed |= use(s, x, cond_and(c, atom))
            elif s.op == "recref":
                group, index = s.attr
                changed |= join(cond, group.bodies[index], c)
            else:
                for a in s.args:
                    changed |= use(s, a, c)
    return cond, value


# ------------------------------------------------------------------ delay lines
def _line_read(s: Sig) -> Tuple[Sig, int, Optional[Sig]]:
    """A delay read as (the signal whose line it reads, constant delay, variable
    amount or None): the real compiler's normal form adds nested constant delays, and a
    recursion's previous value is a read of its body's line."""
    offset, amount = 0, None
    while True:
        if s.op == "recref":
            group, index = s.attr
            return group.bodies[index], offset + 1, amount
        if s.op != "delay" or amount is not None:
            return s, offset, amount
        x, a = s.args
        if a.is_const:
            offset += max(int(a.value), 0)
        else:
            amount = a
        s = x


class _Lowering:
    def __init__(self, order: Sequence[Sig], groups: Sequence[RecGroup],
                 conditions: Tuple[Dict[int, Cond], Dict[int, Cond]]):
        self.cond, self.value_cond = conditions
        self.rates = infer_rates(order)
        self.new: Dict[int, Sig] = {}
        self.specs: Dict[int, TableSpec] = {}
        # the longest delay read of each line (Faust's "max delay"), by its signal
        self.max_delay: Dict[int, float] = {}
        for s in order:
            if s.op in ("delay", "recref"):
                base, offset, amount = _line_read(s)
                top = offset + (delay_bound(amount)[1] if amount is not None else 0)
                self.max_delay[id(base)] = max(self.max_delay.get(id(base), 0), top)
        self.old_groups = list(groups)
        self.groups = {id(g): RecGroup(len(g)) for g in groups}    # old group -> new one
        self.body_of: Dict[int, Tuple[RecGroup, int]] = {}
        for g in groups:
            for i, body in enumerate(g.bodies):
                self.body_of.setdefault(id(body), (g, i))
        self.lines: Dict[int, _Line] = {}        # conditioned lines, by their signal
        self.needed = {id(s) for s in order}
        self._busy: set = set()

    # -- conditions as signals
    def condition_of(self, s: Sig) -> Cond:
        return self.cond.get(id(s), TRUE)

    def signal(self, c: Cond) -> Sig:
        """A 0/1 int signal for c, its atoms lowered. Built in a fixed order, so the
        generated code (and its cache key) does not depend on set iteration order."""
        if c == TRUE:
            return const_int(1)
        if c == FALSE:
            return const_int(0)
        terms = []
        for conj in sorted(c, key=lambda k: sorted(a.uid for a in k)):
            atoms = [self.get(a) for a in sorted(conj, key=lambda a: a.uid)]
            terms.append(reduce(lambda p, q: apply("&", p, q), atoms))
        return reduce(lambda p, q: apply("|", p, q), terms)

    # -- the rewrite, in the order of `collect` (arguments first)
    def run(self, order: Sequence[Sig]) -> None:
        for s in order:
            self.get(s)
        for old in self.old_groups:
            self.groups[id(old)].bodies = tuple(self.rec_body(old, i) for i in range(len(old)))
        built = set()
        while len(built) < len(self.lines):     # building a line may need another one
            for key, line in list(self.lines.items()):
                if key not in built:
                    built.add(key)
                    line.build()

    def get(self, s: Sig) -> Sig:
        """The lowered s. Arguments come first in `collect`'s order, but a condition's
        signal may come later than a node held under it: it is then lowered first."""
        new = self.new.get(id(s))
        if new is None:
            if id(s) in self._busy:
                raise FaustEvaluationError(
                    "the condition of an enable or control depends on its own result "
                    "without a delay")
            self._busy.add(id(s))
            new = self.new[id(s)] = self.lower(s)
            self._busy.discard(id(s))
        return new

    def lower(self, s: Sig) -> Sig:
        op = s.op
        if op in ("recref", "delay"):
            return self.read(s)
        if not s.args:
            return s
        args = [self.get(a) for a in s.args]
        if op == "control":
            return self.control(s, args[0])
        if op == "rdtable":
            return rdtable(self.spec(s.attr), args[0])
        if op == "rwtable":
            return self.rwtable(s, *args)
        return apply(op, *args)

    def spec(self, spec: TableSpec) -> TableSpec:
        """The table contents, their own init signal without conditions: the real
        compiler compiles a table's init on its own, without enable and control."""
        if spec.init is None:
            return spec
        if id(spec) not in self.specs:
            (init,) = lower_controls([spec.init], conditions=False)
            self.specs[id(spec)] = spec if init is spec.init else \
                TableSpec(spec.size, spec.kind, init=init)
        return self.specs[id(spec)]

    # -- control nodes
    def control(self, s: Sig, x_new: Sig) -> Sig:
        x = s.args[0]
        if self.rates[id(x)] < AUDIO:
            return x_new     # computed outside the sample loop: always up to date
        if x.op == "control" or self.fresh_read(x):
            # the real compiler writes these where they are used: a control node is its
            # own x's code, a shift register read shows the register as it is
            return x_new
        c = self.condition_of(x)
        if id(x) in self.body_of and self.max_delay.get(id(x), 0) >= COPY_LIMIT:
            # a recursion's output read from its ring buffer is cached under the
            # condition of that read alone (from a shift register it would be read
            # as it is, which the line's condition already keeps)
            c = self.value_cond.get(id(x), TRUE)
        if c == TRUE:
            return x_new
        hold = RecGroup(1)
        hold.bodies = (apply("select2", self.signal(c), recref(hold, 0), x_new),)
        return hold.bodies[0]

    def fresh_read(self, x: Sig) -> bool:
        """A read of a shift register by a constant amount."""
        if x.op not in ("delay", "recref"):
            return False
        base, offset, amount = _line_read(x)
        return amount is None and self.max_delay[id(base)] < COPY_LIMIT

    # -- tables
    def rwtable(self, s: Sig, windex: Sig, value: Sig, rindex: Sig) -> Sig:
        spec = self.spec(s.attr)
        c = self.condition_of(s)
        if c == TRUE:
            return rwtable(spec, windex, value, rindex)
        # While the condition is false the write goes to one extra slot that is never
        # read (the indices are clamped to the real table first, as they would be).
        n = spec.size
        extra = TableSpec(n + 1, spec.kind, init=spec.init,
                          values=None if spec.values is None else spec.values + (0,))

        def clamp(i):
            return apply("max", const_int(0), apply("min", i, const_int(n - 1)))

        return rwtable(extra, apply("select2", self.signal(c), const_int(n), clamp(windex)),
                       value, clamp(rindex))

    # -- recursions and delay lines
    def read(self, s: Sig) -> Sig:
        base, offset, amount = _line_read(s)
        line = self.line(base)
        if line is not None:
            return line.read(offset, None if amount is None else self.get(amount))
        if s.op == "recref":
            group, index = s.attr
            return recref(self.groups[id(group)], index)
        return delay(self.get(s.args[0]), self.get(s.args[1]))

    def line(self, base: Sig) -> Optional["_Line"]:
        """The lowered line of `base` when it is written under a condition."""
        if self.condition_of(base) == TRUE:
            return None
        top = self.max_delay.get(id(base), 0)
        if id(base) not in self.lines:
            owner = self.body_of.get(id(base))
            if owner is not None:
                owner = (self.groups[id(owner[0])], owner[1])
            self.lines[id(base)] = _Line(self, base, int(top), owner)
        return self.lines[id(base)]

    def rec_body(self, old: RecGroup, index: int) -> Sig:
        """Body `index` of the lowered group: the lowered body, or where it is computed
        under a condition, its state kept while the condition is false."""
        body = old.bodies[index]
        if id(body) not in self.needed:
            return const_int(0)     # a body nothing reads (its recursion output is cut)
        new = self.get(body)
        line = self.line(body) if self.body_of.get(id(body)) == (old, index) else None
        if line is None:
            return new
        previous = recref(self.groups[id(old)], index)
        if line.ring:
            previous = delay(previous, const_int(line.size - 1))
        return apply("select2", line.condition(), previous, new)


class _Line:
    """The delay line of a signal computed under a condition c.

    Shift register (a maximum delay below COPY_LIMIT): registers S1..Smax that shift
    only while c holds, S1 = select2(c, S1', x) and Sj = select2(c, Sj', S(j-1)'). A read
    at d >= 1 is Sd', at 0 the value itself. For the body of a recursion, S1 is the
    lowered recursion itself: its previous value is read through its recref.

    Ring buffer: z = select2(c, z@size, x) is what the slot written in each sample
    holds, so a read at d is z@d (size: the real compiler's, the power of two above the
    maximum delay). For the body of a recursion, z is the lowered body itself."""

    def __init__(self, lowering: _Lowering, base: Sig, max_delay: int,
                 owner: Optional[Tuple[RecGroup, int]]):
        self.lowering = lowering
        self.base = base
        self.max_delay = max_delay
        self.owner = owner      # (lowered group, index) when base is a recursion's body
        self.ring = max_delay >= COPY_LIMIT
        self.size = ring_size(max_delay)
        self.state: Optional[RecGroup] = None     # registers S2.. (S1.. without owner), or z
        self._condition: Optional[Sig] = None

    def condition(self) -> Sig:
        if self._condition is None:
            self._condition = self.lowering.signal(self.lowering.condition_of(self.base))
        return self._condition

    def current(self) -> Sig:
        # a read at 0 is computed only while c holds (its condition implies c): the value
        return self.lowering.get(self.base)

    def read(self, offset: int, amount: Optional[Sig]) -> Sig:
        if amount is None:
            return self.at(offset)
        d = apply("int", amount)
        if offset:
            d = apply("+", d, const_int(offset))
        # the shortest read d can be: a recursion reading its own past through a delay
        # (ef.echo) never reads the value being computed, which would be a cycle
        shortest = int(max(delay_bound(amount)[0] + offset, 0))
        if self.ring:
            past = delay(self.previous(), apply("-", d, const_int(1)))
            if shortest >= 1:
                return past
            return apply("select2", apply("<=", d, const_int(0)), past, self.current())
        # a register chosen by d; beyond the line, its ends
        value = self.at(self.max_delay)
        for k in range(self.max_delay - 1, shortest - 1, -1):
            value = apply("select2", apply("<=", d, const_int(k)), value, self.at(k))
        return value

    def at(self, d: int) -> Sig:
        """The read at the constant delay d."""
        if d <= 0:
            return self.current()
        if self.ring:
            return delay(self.previous(), const_int(d - 1))
        if d == 1:
            return self.previous()
        if self.owner is not None:
            return recref(self._state(self.max_delay - 1), d - 2)
        return recref(self._state(self.max_delay), d - 1)

    def previous(self) -> Sig:
        """S1 of a shift register, z' of a ring buffer: the value last written."""
        if self.owner is not None:
            return recref(*self.owner)
        return recref(self._state(1 if self.ring else self.max_delay), 0)

    def _state(self, size: int) -> RecGroup:
        if self.state is None:
            self.state = RecGroup(size)
        return self.state

    def build(self) -> None:
        if self.state is None:
            return      # a recursion's own body, or no read needed more
        c = self.condition()
        state = self.state
        if self.ring:
            state.bodies = (apply("select2", c, delay(recref(state, 0),
                                                      const_int(self.size - 1)),
                                  self.current()),)
            return
        # shift registers: each keeps its value, or takes the one before it
        first = 1 if self.owner is None else 2
        bodies = []
        for j in range(len(state)):
            k = j + first                        # the register this body is: Sk
            before = self.current() if k == 1 else self.at(k - 1)
            bodies.append(apply("select2", c, recref(state, j), before))
        state.bodies = tuple(bodies)


def share_recursions(outputs: Sequence[Sig]) -> Tuple[Sig, ...]:
    """`outputs` with equal recursions made one.

    Every `~` makes a recursion group of its own, but the real compiler's signals are
    hash-consed with the recursions in them, so two counters `+(1) ~ _` are one signal.
    Where a signal is computed depends on all its uses, so conditions need that sharing:
    `enable(x(counter), counter % 3)` computes the counter always, for the condition.
    Two nodes are equal when their unfoldings are (the coarsest partition stable under
    "same operation, equal arguments, recursions of equal groups"), computed by
    partition refinement."""
    order, groups = collect(outputs)
    position = {id(s): k for k, s in enumerate(order)}

    def local(s: Sig):
        if s.op == "recref":
            return ("recref", len(s.attr[0]), s.attr[1])
        return (s.op, len(s.args), _attr_key(s.op, s.attr))

    keys: Dict[object, int] = {}
    cls = [keys.setdefault(local(s), len(keys)) for s in order]
    while True:
        def signature(k: int, s: Sig):
            if s.op == "recref":
                bodies = tuple(cls[position[id(b)]] if id(b) in position else None
                               for b in s.attr[0].bodies)
                return (cls[k], bodies)
            return (cls[k],) + tuple(cls[position[id(a)]] for a in s.args)

        keys = {}
        refined = [keys.setdefault(signature(k, s), len(keys)) for k, s in enumerate(order)]
        if len(keys) == len(set(cls)):
            break
        cls = refined

    def group_key(g: RecGroup):
        return tuple(cls[position[id(b)]] if id(b) in position else None for b in g.bodies)

    shared: Dict[tuple, RecGroup] = {}
    new_group = {}
    for g in groups:
        key = group_key(g)
        if key not in shared:
            shared[key] = RecGroup(len(g))
        new_group[id(g)] = (shared[key], key)
    by_class: Dict[int, Sig] = {}
    for k, s in enumerate(order):
        if cls[k] in by_class:
            continue
        if s.op == "recref":
            new = recref(new_group[id(s.attr[0])][0], s.attr[1])
        else:
            new = node(s.op, tuple(by_class[cls[position[id(a)]]] for a in s.args), s.attr)
        by_class[cls[k]] = new
    done = set()
    for group, key in new_group.values():
        if id(group) not in done:
            done.add(id(group))
            group.bodies = tuple(const_int(0) if c is None else by_class[c] for c in key)
    return tuple(by_class[cls[position[id(o)]]] for o in outputs)


def lower_controls(outputs: Sequence[Sig], conditions: bool = True) -> Tuple[Sig, ...]:
    """`outputs` with every control node lowered to plain signals (see the module
    docstring); the same signals when there is none. Without `conditions` (a table's
    init signal) every control node is its x."""
    # a control node may be in a table's contents only: lowered with them (`spec`)
    if not any(s.op == "control" for s in collect_with_tables(outputs)):
        return tuple(outputs)
    if conditions:
        outputs = share_recursions(outputs)
        order, groups = collect(outputs)
        found = annotate(order, outputs, [b for g in groups for b in g.bodies])
    else:
        # every condition TRUE (the default of a node absent from the tables); equal
        # recursions need not be shared, sharing only matters to the conditions
        order, groups = collect(outputs)
        found = ({}, {})
    lowering = _Lowering(order, groups, found)
    lowering.run(order)
    return tuple(lowering.get(o) for o in outputs)
