"""Short forms of issuing bodies, as staff type them: 发改委 for 发展和改革委员会.

Documents sign with a body's full name; people filter and ask by its common short form. The table
(``issuer_aliases.tsv`` beside this module, extended by the file ``$POLICY_SEARCH_ISSUER_ALIASES``
names) holds the short forms of bodies in general use across provinces and cities, not names of
one corpus. A filter value matches a document's issuer when the value itself, or the value with a
short form spelled out, is part of the issuer (``天津市发改委`` → ``天津市发展和改革委员会``); a
query naming a body favours that body's documents (``search_api.ranking``).
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

ALIASES_FILE = Path(__file__).with_name("issuer_aliases.tsv")
USER_ALIASES_ENV = "POLICY_SEARCH_ISSUER_ALIASES"


class AliasFileError(ValueError):
    """A line of an alias file that is not ``short<TAB>full|full``."""


def read_aliases(path: Path) -> dict[str, tuple[str, ...]]:
    """Short form → full names, from a file of ``short<TAB>full|full`` lines (``#`` starts a comment)."""
    table: dict[str, tuple[str, ...]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        short, tab, names = line.partition("\t")
        full_names = tuple(name.strip() for name in names.split("|") if name.strip())
        if not tab or not short.strip() or not full_names:
            raise AliasFileError(f"{path}:{number}: 应为“简称<Tab>全称|全称” / expected short<TAB>full|full")
        table[short.strip()] = full_names
    return table


@cache
def short_forms() -> dict[str, tuple[str, ...]]:
    """The bundled table, with the user's file (if any) adding forms or replacing them."""
    table = read_aliases(ALIASES_FILE)
    user_file = os.environ.get(USER_ALIASES_ENV)
    if user_file:
        table |= read_aliases(Path(user_file))
    return table


def issuer_forms(value: str | None) -> tuple[str, ...] | None:
    """The filter value and its spelled-out forms, any of which may be part of an issuer."""
    if not value or not value.strip():
        return None
    value = value.strip()
    forms = [value]
    for short, full_names in short_forms().items():
        if short in value:
            forms += [value.replace(short, full) for full in full_names]
    return tuple(dict.fromkeys(forms))


def issuers_named(query: str) -> dict[str, tuple[str, ...]]:
    """Bodies a query names by a short form or a full name in the table → the names they sign with
    (longest first, so ``市场监管委`` is not also read as a shorter form inside it)."""
    table = short_forms()
    names = sorted({*table, *(full for fulls in table.values() for full in fulls)}, key=len, reverse=True)
    found: dict[str, tuple[str, ...]] = {}
    rest = query
    for name in names:
        if name in rest:
            found[name] = table.get(name, (name,))
            rest = rest.replace(name, " ")
    return found
