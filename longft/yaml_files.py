"""YAML as longft reads it (recipes, data mixes, command-line values): safe tags only, no key given
twice, and no document that expands past a size limit through aliases.

PyYAML's `safe_load` keeps the last of two equal keys (a recipe's first `train:` block would vanish)
and expands aliases by reference, so nine aliases of nine aliases of ... cost nothing to parse and
gigabytes to copy or print later. Both are refused here, naming the key and its lines.
"""
from __future__ import annotations

from typing import Any

import yaml

from .errors import RecipeError

# Values a document may hold once every alias is expanded: recipes and mixes hold a few hundred.
MAX_EXPANDED_NODES = 100_000


def load_yaml(text: str, what: str) -> Any:
    """Parse `text`; `what` names it in errors ("recipe r.yaml", "override --data.sources")."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node, what)
        _check_duplicate_keys(node, what)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RecipeError(f"{what} is not valid YAML{where}: {problem}") from None
    except RecursionError:
        raise RecipeError(f"{what} nests too deeply to read; a recipe's values are a few levels deep") from None
    finally:
        loader.dispose()


def _children(node) -> list:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_expansion(root, what: str) -> None:
    """Counts the nodes of the document with every alias expanded, each shared node counted once per
    use but visited once (memoised), so a bomb is measured in linear time; a node that contains
    itself is refused too."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise RecipeError(f"{what}: an alias at line {node.start_mark.line + 1} refers to a value that contains it")
        open_nodes.add(key)
        total = 1 + sum(size(child) for child in _children(node))
        open_nodes.discard(key)
        sizes[key] = total
        return total

    total = size(root)
    if total > MAX_EXPANDED_NODES:
        raise RecipeError(
            f"{what} expands to {total:,} values through its aliases (&/*), past the limit of "
            f"{MAX_EXPANDED_NODES:,}; write the values out or use fewer aliases"
        )


def _check_duplicate_keys(root, what: str) -> None:
    seen_nodes: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first_line: dict = {}
            for key, _ in node.value:
                if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                    continue
                line = key.start_mark.line + 1
                if (key.tag, key.value) in first_line:
                    raise RecipeError(
                        f"{what}: key {key.value!r} appears twice in one mapping (lines {first_line[(key.tag, key.value)]} "
                        f"and {line}); YAML would keep only the last, so merge them into one"
                    )
                first_line[(key.tag, key.value)] = line
        stack.extend(_children(node))
