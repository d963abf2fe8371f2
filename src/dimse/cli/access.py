"""``+ac``: host access control in the spirit of hosts_access(5) (TCP wrappers).

Access is granted when a rule in the allow file matches (daemon, client); otherwise denied when a
rule in the deny file matches; otherwise granted.  Supported patterns: ``ALL``, ``LOCAL``, exact
addresses, ``n.n.n.`` prefixes, ``n.n.n.n/m.m.m.m`` and ``/len`` networks, ``[ipv6]`` addresses,
host names and ``.domain`` suffixes (unless host lookup is disabled), and ``EXCEPT``.  Shell
commands and ``%`` expansions are not supported and such rules are read without them.

The files are ``/etc/hosts.allow`` and ``/etc/hosts.deny``, or what the environment variables
``DIMSE_HOSTS_ALLOW`` and ``DIMSE_HOSTS_DENY`` name.
"""

from __future__ import annotations

import ipaddress
import os
import socket

from ..core.record import Record


def _rules(path: str) -> list[tuple[list[str], list[str]]]:
    try:
        with open(path, encoding="utf-8", errors="replace") as fp:
            text = fp.read().replace("\\\n", " ")
    except OSError:
        return []
    rules = []
    for line in text.splitlines():
        fields = _fields(line.split("#", 1)[0].strip())
        if len(fields) >= 2:
            rules.append((fields[0].replace(",", " ").split(), fields[1].replace(",", " ").split()))
    return rules


def _fields(line: str) -> list[str]:
    """Split a rule at the colons that are not inside ``[ipv6]`` brackets."""
    fields: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in line:
        depth += {"[": 1, "]": -1}.get(ch, 0)
        if ch == ":" and depth == 0:
            fields.append("".join(current))
            current = []
        else:
            current.append(ch)
    fields.append("".join(current))
    return fields


def _match_list(words: list[str], matches) -> bool:
    """A list with ``EXCEPT``: matches the part before it and not the part after."""
    if "EXCEPT" in words:
        i = words.index("EXCEPT")
        return _match_list(words[:i], matches) and not _match_list(words[i + 1 :], matches)
    return any(matches(word) for word in words)


class Client(Record):
    __slots__ = ("address", "lookup")

    def __init__(
        self,
        address: str,
        lookup: bool = True,
    ) -> None:
        self.address = address
        self.lookup = lookup

    def name(self) -> str | None:
        if not self.lookup:
            return None
        try:
            return socket.getnameinfo((self.address, 0), socket.NI_NAMEREQD)[0].lower()
        except OSError:
            return None

    def matches(self, pattern: str) -> bool:
        if pattern == "ALL":
            return True
        address = ipaddress.ip_address(self.address)
        text = pattern.strip("[]")
        if "/" in text:
            net, _, mask = text.partition("/")
            try:
                network = ipaddress.ip_network(f"{net}/{mask}", strict=False)
            except ValueError:
                return False
            return address in network
        try:
            return address == ipaddress.ip_address(text)
        except ValueError:
            pass
        if pattern.endswith(".") and pattern[0].isdigit():
            return self.address.startswith(pattern)
        name = self.name()
        if pattern == "LOCAL":
            return name is not None and "." not in name
        if name is None:
            return False
        pattern = pattern.lower()
        return name.endswith(pattern) if pattern.startswith(".") else name == pattern


def allowed(daemon: str, address: str, lookup: bool = True) -> bool:
    """hosts_access(5): may ``address`` use ``daemon``?"""
    client = Client(address, lookup)
    allow = os.environ.get("DIMSE_HOSTS_ALLOW", "/etc/hosts.allow")
    deny = os.environ.get("DIMSE_HOSTS_DENY", "/etc/hosts.deny")
    for path, verdict in ((allow, True), (deny, False)):
        for daemons, clients in _rules(path):
            if _match_list(daemons, lambda d: d == "ALL" or d == daemon) and _match_list(clients, client.matches):
                return verdict
    return True
