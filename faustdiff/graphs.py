"""Graph algorithms the compiler's passes share."""
from __future__ import annotations

from typing import Dict, Hashable, List, Sequence


def strongly_connected(nodes: Sequence[Hashable],
                       after: Dict[Hashable, Sequence[Hashable]]) -> List[List[Hashable]]:
    """The strongly connected components of the graph with edges v -> after[v] (a node
    missing from `after` has none), each as soon as it is complete: a component comes
    after every component it reaches. Tarjan's algorithm, without recursion (a kernel
    may have thousands of statements)."""
    index: Dict[Hashable, int] = {}
    low: Dict[Hashable, int] = {}
    on_stack = set()
    stack: List[Hashable] = []
    found: List[List[Hashable]] = []
    for root in nodes:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = len(index)
                stack.append(v)
                on_stack.add(v)
            successors = after.get(v, ())
            if i < len(successors):
                work.append((v, i + 1))
                w = successors[i]
                if w not in index:
                    work.append((w, 0))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            if work:  # v is done: its caller takes its low link
                caller = work[-1][0]
                low[caller] = min(low[caller], low[v])
            if low[v] == index[v]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.append(w)
                    if w == v:
                        break
                found.append(component)
    return found
