"""Atlassian Document Format (ADF): Jira Cloud's rich text for descriptions and comments, and the mark that
starts every comment this adapter writes."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

PORT_MARK = "(via Port)"
"""Starts every comment this adapter writes, so the webhook does not report our own notes back as new."""

_URL = re.compile(r"https?://[^\s<>\"']*[^\s<>\"'.,;:!?)]")
"""A web address in text, without the punctuation that ends the sentence around it."""


def adf_document(blocks: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "doc", "version": 1, "content": list(blocks)}


def adf_paragraphs(value: str) -> list[dict[str, Any]]:
    """One paragraph per non-blank line, web addresses as links (ADF refuses empty text nodes)."""
    return [{"type": "paragraph", "content": _inline(line)} for line in value.splitlines() if line.strip()]


def adf_heading(value: str) -> dict[str, Any]:
    return {"type": "heading", "attrs": {"level": 3}, "content": [{"type": "text", "text": value}]}


def _inline(line: str) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    position = 0
    for found in _URL.finditer(line):
        if found.start() > position:
            nodes.append({"type": "text", "text": line[position : found.start()]})
        url = found.group()
        nodes.append({"type": "text", "text": url, "marks": [{"type": "link", "attrs": {"href": url}}]})
        position = found.end()
    if position < len(line):
        nodes.append({"type": "text", "text": line[position:]})
    return nodes


def adf_text(node: Any) -> str:
    """The plain text of an ADF node (or of a string, as webhooks send comment bodies).

    ADF is a recursive document of any depth, read here as the JSON it is rather than through a model.
    """
    if isinstance(node, str):
        return node
    if not isinstance(node, Mapping):
        return ""
    if node.get("type") == "text":
        return str(node.get("text") or "")
    parts = [adf_text(child) for child in node.get("content") or []]
    separator = "\n" if node.get("type") == "doc" else ""
    return separator.join(parts)


def comment_body(first_line: str, details: str = "") -> dict[str, Any]:
    return adf_document(adf_paragraphs(f"{PORT_MARK} {first_line}\n{details}"))
