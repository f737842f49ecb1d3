# SPDX-License-Identifier: Apache-2.0
"""Label and field selectors with apimachinery's grammar and semantics
(pkg/labels/selector.go, pkg/fields/selector.go).

Label: comma-separated requirements: key, !key, key=v, key==v, key!=v,
key in (a,b), key notin (a,b), key>N, key<N.  '!=' and 'notin' also match
objects that lack the key.
Field: key=v, key==v, key!=v terms, ',' separated, '\\' escapes ',' '=' '!'
and '\\'.  Which keys a resource supports is decided in resources.py."""
import re

from .status import bad_request

_NAME_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS1123_SUB_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

QUALIFIED_NAME_MSG = ("name part must consist of alphanumeric characters, '-', '_' or '.', and "
                      "must start and end with an alphanumeric character (e.g. 'MyName',  or "
                      "'my.name',  or '123-abc', regex used for validation is "
                      "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
DNS1123_SUB_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                   "characters, '-' or '.', and must start and end with an alphanumeric character "
                   "(e.g. 'example.com', regex used for validation is "
                   "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")


def is_dns1123_subdomain(s):
    """[] if valid, else a list of messages (validation.IsDNS1123Subdomain)."""
    msgs = []
    if len(s) > 253:
        msgs.append("must be no more than 253 characters")
    if not _DNS1123_SUB_RE.match(s):
        msgs.append(DNS1123_SUB_MSG)
    return msgs


def is_qualified_name(s):
    """[] if valid, else messages (validation.IsQualifiedName)."""
    msgs = []
    parts = s.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            msgs.append("prefix part must be non-empty")
        else:
            msgs += ["prefix part " + m for m in is_dns1123_subdomain(prefix)]
    else:
        return ["a qualified name must consist of alphanumeric characters, '-', '_' or '.', and "
                "must start and end with an alphanumeric character (e.g. 'MyName',  or "
                "'my.name',  or '123-abc', regex used for validation is "
                "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain "
                "prefix and '/' (e.g. 'example.com/MyName')"]
    if not name:
        msgs.append("name part must be non-empty")
    elif len(name) > 63:
        msgs.append("name part must be no more than 63 characters")
    if not _NAME_RE.match(name):  # not elif: k8s reports both for an empty name
        msgs.append(QUALIFIED_NAME_MSG)
    return msgs


# ---------------------------------------------------------------- labels

class LabelSelector:
    """A parsed label selector: list of (key, op, values)."""

    def __init__(self, reqs):
        self.reqs = reqs

    def empty(self):
        return not self.reqs

    def matches(self, labels):
        labels = labels or {}
        for key, op, vals in self.reqs:
            has = key in labels
            v = labels.get(key)
            if op == "exists":
                ok = has
            elif op == "!":
                ok = not has
            elif op in ("=", "==", "in"):
                ok = has and v in vals
            elif op in ("!=", "notin"):
                ok = (not has) or v not in vals
            elif op in (">", "<"):
                try:
                    n = int(v)
                except (TypeError, ValueError):
                    ok = False
                else:
                    ok = n > vals[0] if op == ">" else n < vals[0]
            else:
                ok = False
            if not ok:
                return False
        return True


_SPECIAL = set("!=,()<> \t\n")


def _lex(s):
    toks, i = [], 0
    while i < len(s):
        c = s[i]
        if c in " \t\n":
            i += 1
            continue
        if s.startswith("==", i) or s.startswith("!=", i):
            toks.append(s[i:i + 2])
            i += 2
            continue
        if c in "!=,()<>":
            toks.append(c)
            i += 1
            continue
        j = i
        while j < len(s) and s[j] not in _SPECIAL:
            j += 1
        word = s[i:j]
        toks.append(("id", word))
        i = j
    return toks


def _perr(msg):
    return bad_request("unable to parse requirement: " + msg)


def parse_label_selector(s):
    if s is None or s.strip() == "":
        return LabelSelector([])
    toks = _lex(s)
    reqs, i = [], 0

    def peek(k=0):
        return toks[i + k] if i + k < len(toks) else None

    def tokstr(t):
        return "" if t is None else (t[1] if isinstance(t, tuple) else t)

    while True:
        t = peek()
        neg = False
        if t == "!":
            neg = True
            i += 1
            t = peek()
        if not isinstance(t, tuple):
            raise bad_request("found '%s', expected: !, identifier, or 'end of string'" % tokstr(t))
        key = t[1]
        i += 1
        msgs = is_qualified_name(key)
        if msgs:
            raise _perr('key: Invalid value: "%s": %s' % (key, "; ".join(msgs)))
        nt = peek()
        if neg:
            reqs.append((key, "!", []))
        elif nt is None or nt == ",":
            reqs.append((key, "exists", []))
        elif nt in ("=", "==", "!="):
            i += 1
            vt = peek()
            if vt is None or vt == ",":
                val = ""
            elif isinstance(vt, tuple):
                val = vt[1]
                i += 1
            else:
                raise bad_request("found '%s', expected: identifier" % tokstr(vt))
            _check_value(val)
            reqs.append((key, nt, [val]))
        elif nt in (">", "<"):
            i += 1
            vt = peek()
            try:
                n = int(tokstr(vt))
            except ValueError:
                raise _perr("for 'Gt', 'Lt' operators, the value must be an integer")
            i += 1
            reqs.append((key, nt, [n]))
        elif isinstance(nt, tuple) and nt[1] in ("in", "notin"):
            op = nt[1]
            i += 1
            if peek() != "(":
                raise bad_request("found '%s', expected: '('" % tokstr(peek()))
            i += 1
            vals = []
            while True:
                vt = peek()
                if vt == ")":
                    if not vals or toks[i - 1] == ",":
                        vals.append("")
                    i += 1
                    break
                if vt == ",":
                    if toks[i - 1] in ("(", ","):
                        vals.append("")
                    i += 1
                    continue
                if isinstance(vt, tuple):
                    _check_value(vt[1])
                    vals.append(vt[1])
                    i += 1
                    continue
                raise bad_request("found '%s', expected: ',', ')' or identifier" % tokstr(vt))
            reqs.append((key, op, vals))
        else:
            raise bad_request("found '%s', expected: in, notin, =, ==, !=, gt, lt" % tokstr(nt))
        t = peek()
        if t is None:
            break
        if t != ",":
            raise bad_request("found '%s', expected: ',' or 'end of string'" % tokstr(t))
        i += 1
    return LabelSelector(reqs)


def _check_value(v):
    if len(v) > 63 or not _LABEL_VALUE_RE.match(v):
        raise _perr('values[0]: Invalid value: "%s": a valid label must be an empty string or '
                    "consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                    "with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', "
                    "regex used for validation is "
                    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')" % v)


# ---------------------------------------------------------------- fields

class FieldSelector:
    def __init__(self, terms):
        self.terms = terms  # list of (field, op, value); op '=' or '!='

    def empty(self):
        return not self.terms

    def fields(self):
        return [t[0] for t in self.terms]

    def matches(self, getfield):
        for f, op, v in self.terms:
            got = getfield(f)
            if got is None:
                got = ""
            if (got == v) != (op == "="):
                return False
        return True


def _split_unescaped(s, sep):
    parts, cur, i = [], [], 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            cur.append(s[i:i + 2])
            i += 2
            continue
        if c == sep:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    parts.append("".join(cur))
    return parts


def _unescape(s):
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\":
            if i + 1 >= len(s) or s[i + 1] not in "\\,=!":
                raise bad_request("invalid field selector: invalid escape sequence: %r" % s)
            out.append(s[i + 1])
            i += 2
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def parse_field_selector(s):
    if s is None or s.strip() == "":
        return FieldSelector([])
    terms = []
    for term in _split_unescaped(s, ","):
        if term == "":
            continue
        found = None
        i = 0
        while i < len(term):
            if term[i] == "\\":
                i += 2
                continue
            for op in ("!=", "==", "="):
                if term.startswith(op, i):
                    found = (i, op)
                    break
            if found:
                break
            i += 1
        if not found:
            raise bad_request("invalid selector: '%s'; can't understand '%s'" % (s, term))
        pos, op = found
        field = _unescape(term[:pos])
        value = _unescape(term[pos + len(op):])
        terms.append((field, "!=" if op == "!=" else "=", value))
    return FieldSelector(terms)
