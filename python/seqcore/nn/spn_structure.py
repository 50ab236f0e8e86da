"""Region graphs: the structure of a sum-product network (SPN) at the level of scopes.

A region graph alternates two kinds of nodes (Peharz et al. 2019, "Random
Sum-Product Networks: A Simple and Effective Approach to Probabilistic Deep
Learning"; Peharz et al. 2020, "Einsum Networks"):

* a **region** is a set of variables (its *scope*). In the SPN it becomes a
  vector of sum nodes over that scope, or, for a region without partitions
  (a *leaf region*), a vector of factorised input distributions;
* a **partition** splits its parent region's scope into two or more disjoint
  child regions. In the SPN it becomes the product nodes of every combination
  of one node from each child region.

A partition whose children partition its parent's scope makes the products
*decomposable*; all partitions of a region sharing the region's scope makes its
sums *smooth*. Both together make the SPN a valid distribution whose marginals
are one upward pass. :class:`RegionGraph` checks both on every construction.

Regions are numbered with the root first; ``partitions`` lists
``(parent_region, child_regions)`` pairs. The graph may be a DAG (a region
shared by several partitions) when built with :meth:`RegionGraph.from_dict`.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: The explicit form taken by :meth:`RegionGraph.from_tree`: ``(scope, children)``.
#: The root and every node at an even depth is a sum (region) node whose children
#: are product (partition) nodes; those have sum nodes as children. A sum node
#: without children is a leaf region.
TreeNode = tuple[Iterable[int], Sequence["TreeNode"]]

#: Version written by :meth:`RegionGraph.to_dict`.
FORMAT_VERSION = 1

Partition = tuple[int, tuple[int, ...]]


class RegionGraph:
    """A validated region graph over variables ``0 .. num_vars - 1``.

    Build one with :meth:`random` (RAT-SPN structure), :meth:`from_tree`
    (explicit nested ``(scope, children)`` tuples) or :meth:`from_dict`
    (the JSON-able form of :meth:`to_dict`). Direct construction from flat
    lists is also validated.

    Args:
        num_vars: number of variables ``D``.
        regions: the scope of each region; region 0 is the root and must cover
            all ``D`` variables.
        partitions: ``(parent_region, child_regions)`` pairs; each has at least
            two children whose scopes partition the parent's scope.

    Raises:
        ValueError: naming the offending region or partition.

    Example:
        >>> graph = RegionGraph.random(num_vars=6, depth=2, num_repetitions=2, seed=0)
        >>> len(graph.partitions), graph.regions[0]
        (6, (0, 1, 2, 3, 4, 5))
        >>> RegionGraph.from_dict(graph.to_dict()) == graph
        True
    """

    def __init__(
        self,
        num_vars: int,
        regions: Sequence[Iterable[int]],
        partitions: Sequence[tuple[int, Sequence[int]]],
        *,
        _names: Mapping[tuple[str, int], str] | None = None,
    ) -> None:
        if isinstance(num_vars, bool) or not isinstance(num_vars, int) or num_vars < 1:
            raise ValueError(f"num_vars must be a positive int, got {num_vars!r}")
        names = dict(_names or {})

        def name(kind: str, index: int) -> str:
            default = f"regions[{index}]" if kind == "region" else f"partitions[{index}]"
            return names.get((kind, index), default)

        self.num_vars = num_vars
        self.regions: tuple[tuple[int, ...], ...] = tuple(
            _scope(scope, num_vars, f"sum node {name('region', i)}")
            for i, scope in enumerate(regions)
        )
        if not self.regions:
            raise ValueError("a region graph needs at least the root region")
        if self.regions[0] != tuple(range(num_vars)):
            raise ValueError(
                f"the root region {name('region', 0)} must cover all {num_vars} variables, "
                f"got scope {list(self.regions[0])}"
            )
        parts: list[Partition] = []
        for p, entry in enumerate(partitions):
            label = f"product node {name('partition', p)}"
            parent, children = _partition_entry(entry, len(self.regions), label)
            _check_decomposable(
                label, self.regions[parent], [self.regions[c] for c in children], children, name
            )
            parts.append((parent, children))
        self.partitions: tuple[Partition, ...] = tuple(parts)
        self._check_reachable(name)

    # ------------------------------------------------------------------ builders

    @classmethod
    def random(
        cls, num_vars: int, depth: int = 2, num_repetitions: int = 1, seed: int = 0
    ) -> RegionGraph:
        """RAT-SPN's random binary tree structure (Peharz et al. 2019).

        Each repetition shuffles the variables (seeded by ``seed``) and splits
        the root scope into two halves, recursively, ``depth`` times or until a
        region holds one variable. The repetitions share only the root region,
        which thus has ``num_repetitions`` partitions. ``depth = 0`` (or
        ``num_vars = 1``) leaves the root a leaf region: a mixture of
        fully factorised distributions.
        """
        for arg, value, low in (("depth", depth, 0), ("num_repetitions", num_repetitions, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{arg} must be an int >= {low}, got {value!r}")
        if isinstance(num_vars, bool) or not isinstance(num_vars, int) or num_vars < 1:
            raise ValueError(f"num_vars must be a positive int, got {num_vars!r}")
        rng = random.Random(seed)
        regions: list[tuple[int, ...]] = [tuple(range(num_vars))]
        partitions: list[tuple[int, tuple[int, ...]]] = []

        def split(region: int, order: list[int], levels_left: int) -> None:
            if levels_left == 0 or len(order) < 2:
                return
            halves = (order[: len(order) // 2], order[len(order) // 2 :])
            children = []
            for half in halves:
                regions.append(tuple(sorted(half)))
                children.append(len(regions) - 1)
            partitions.append((region, tuple(children)))
            for child, half in zip(children, halves, strict=True):
                split(child, half, levels_left - 1)

        if depth > 0 and num_vars > 1:
            for _ in range(num_repetitions):
                order = list(range(num_vars))
                rng.shuffle(order)
                split(0, order, depth)
        return cls(num_vars, regions, partitions)

    @classmethod
    def from_tree(cls, tree: TreeNode, num_vars: int | None = None) -> RegionGraph:
        """An explicit structure: nested ``(scope, children)`` tuples.

        The root is a sum node; the children of a sum node are product nodes
        and the children of a product node are sum nodes. Nodes are named in
        errors by their path: ``root``, ``root.0`` (its first product),
        ``root.0.1`` (that product's second child), and so on.

        Raises:
            ValueError: a product whose children do not partition its scope
                (not decomposable), a sum whose children's scopes differ from
                its own (not smooth), a product with fewer than two children,
                or a bad scope; the message names the node.

        Example:
            >>> leaf = lambda *v: (v, [])
            >>> graph = RegionGraph.from_tree(((0, 1, 2), [((0, 1, 2), [leaf(0), leaf(1, 2)])]))
            >>> graph.regions
            ((0, 1, 2), (0,), (1, 2))
        """
        regions: list[tuple[int, ...]] = []
        partitions: list[tuple[int, tuple[int, ...]]] = []
        names: dict[tuple[str, int], str] = {}
        limit = num_vars if num_vars is not None else 1 << 62

        def add_sum(node: object, path: str) -> int:
            scope_raw, children = _unpack(node, f"sum node {path}")
            scope = _scope(scope_raw, limit, f"sum node {path}")
            index = len(regions)
            regions.append(scope)
            names[("region", index)] = path
            for i, child in enumerate(children):
                child_path = f"{path}.{i}"
                child_scope_raw, grandchildren = _unpack(child, f"product node {child_path}")
                child_scope = _scope(child_scope_raw, limit, f"product node {child_path}")
                if set(child_scope) != set(scope):
                    raise ValueError(
                        f"sum node {path} (scope {list(scope)}) is not smooth: its child "
                        f"{child_path} has scope {list(child_scope)}"
                    )
                kids = [add_sum(g, f"{child_path}.{j}") for j, g in enumerate(grandchildren)]
                names[("partition", len(partitions))] = child_path
                partitions.append((index, tuple(kids)))
            return index

        add_sum(tree, "root")
        if num_vars is None:
            num_vars = max(regions[0], default=-1) + 1
        # The flat check names product nodes by their tree path too.
        return cls(num_vars, regions, partitions, _names=names)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RegionGraph:
        """Inverse of :meth:`to_dict`; validates as the constructor does."""
        if not isinstance(data, Mapping):
            raise ValueError(f"a region graph dict must be a mapping, got {type(data).__name__}")
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise ValueError(f"unsupported region graph format_version {version!r}")
        missing = {"num_vars", "regions", "partitions"} - set(data)
        if missing:
            raise ValueError(f"region graph dict lacks {sorted(missing)}")
        partitions = []
        for p, entry in enumerate(data["partitions"]):
            if not isinstance(entry, Mapping) or set(entry) != {"region", "children"}:
                raise ValueError(f"partitions[{p}] must be {{'region': ..., 'children': [...]}}")
            partitions.append((entry["region"], entry["children"]))
        return cls(data["num_vars"], data["regions"], partitions)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (ints and lists only) with a ``format_version``."""
        return {
            "format_version": FORMAT_VERSION,
            "num_vars": self.num_vars,
            "regions": [list(scope) for scope in self.regions],
            "partitions": [
                {"region": parent, "children": list(children)}
                for parent, children in self.partitions
            ],
        }

    # ------------------------------------------------------------------ queries

    def partitions_of(self, region: int) -> list[tuple[int, ...]]:
        """The child-region tuples of ``region``'s partitions, in order."""
        return [children for parent, children in self.partitions if parent == region]

    def is_leaf(self, region: int) -> bool:
        """True when ``region`` has no partitions (it holds input distributions)."""
        return all(parent != region for parent, _ in self.partitions)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RegionGraph):
            return NotImplemented
        return (self.num_vars, self.regions, self.partitions) == (
            other.num_vars,
            other.regions,
            other.partitions,
        )

    def __hash__(self) -> int:
        return hash((self.num_vars, self.regions, self.partitions))

    def __repr__(self) -> str:
        leaves = sum(self.is_leaf(r) for r in range(len(self.regions)))
        return (
            f"RegionGraph(num_vars={self.num_vars}, regions={len(self.regions)}, "
            f"leaf_regions={leaves}, partitions={len(self.partitions)})"
        )

    def _check_reachable(self, name: Any) -> None:
        # Every region must feed the root; an orphan would hold parameters that
        # no output depends on. Children are strict subsets of their parent's
        # scope (two or more non-empty disjoint parts), so there are no cycles.
        reached = {0}
        stack = [0]
        children_of: dict[int, list[int]] = {}
        for parent, children in self.partitions:
            children_of.setdefault(parent, []).extend(children)
        while stack:
            for child in children_of.get(stack.pop(), []):
                if child not in reached:
                    reached.add(child)
                    stack.append(child)
        for region in range(len(self.regions)):
            if region not in reached:
                raise ValueError(
                    f"sum node {name('region', region)} is not reachable from the root"
                )


def _unpack(node: object, label: str) -> tuple[object, Sequence[object]]:
    if not isinstance(node, (tuple, list)) or len(node) != 2:
        raise ValueError(f"{label} must be a (scope, children) pair, got {node!r}")
    scope, children = node
    if not isinstance(children, (tuple, list)):
        raise ValueError(f"{label}: children must be a list, got {type(children).__name__}")
    return scope, children


def _scope(raw: object, num_vars: int, label: str) -> tuple[int, ...]:
    if isinstance(raw, (str, bytes)) or not isinstance(raw, Iterable):
        raise ValueError(f"{label}: scope must be a list of variable indices, got {raw!r}")
    items = list(raw)
    for v in items:
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < num_vars:
            raise ValueError(f"{label}: variable {v!r} is not an int in [0, {num_vars})")
    if not items:
        raise ValueError(f"{label} has an empty scope")
    if len(set(items)) != len(items):
        raise ValueError(f"{label}: scope {items} repeats a variable")
    return tuple(sorted(items))


def _partition_entry(entry: object, num_regions: int, label: str) -> tuple[int, tuple[int, ...]]:
    if not isinstance(entry, (tuple, list)) or len(entry) != 2:
        raise ValueError(f"{label} must be (parent_region, child_regions), got {entry!r}")
    parent, children = entry
    indices = [parent, *children] if isinstance(children, (tuple, list)) else None
    if indices is None or any(
        isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < num_regions for i in indices
    ):
        raise ValueError(
            f"{label}: region indices must be ints in [0, {num_regions}), got {entry!r}"
        )
    if len(children) < 2:
        raise ValueError(
            f"{label} has {len(children)} child(ren); a product needs at least two "
            "(a single child would only repeat its region)"
        )
    return parent, tuple(children)


def _check_decomposable(
    label: str,
    scope: tuple[int, ...],
    child_scopes: list[tuple[int, ...]],
    children: tuple[int, ...],
    name: Any,
) -> None:
    seen: dict[int, int] = {}
    for child, child_scope in zip(children, child_scopes, strict=True):
        for v in child_scope:
            if v in seen:
                raise ValueError(
                    f"{label} (scope {list(scope)}) is not decomposable: children "
                    f"{name('region', seen[v])} and {name('region', child)} share variable {v}"
                )
            seen[v] = child
    if set(seen) != set(scope):
        raise ValueError(
            f"{label} (scope {list(scope)}) is not decomposable: its children cover "
            f"{sorted(seen)} instead of its scope"
        )


__all__ = ["FORMAT_VERSION", "RegionGraph", "TreeNode"]
