"""jql.py - the subset of Jira's JQL the Jira simulator (jira_sim.py)
evaluates, parsed as Jira parses it (Atlassian, "JQL: fields, operators,
keywords and functions", Jira Cloud; checked December 2026):

  query   := expr [ORDER BY field [ASC|DESC]]
  expr    := term (OR term)*            AND binds tighter than OR
  term    := factor (AND factor)*
  factor  := NOT factor | "(" expr ")" | clause
  clause  := field op value | field [NOT] IN "(" value, ... ")"
           | issue [NOT] IN linkedIssues(KEY [, "link description"])
  value   := "double quoted" | 'single quoted' | bare word
Keywords (AND, OR, NOT, IN, ORDER BY) and field names are case-insensitive.

Fields and operators taken (anything else is a 400 naming it, so a query
the connector builds cannot lean on a feature the simulator fakes):
  project =            updated >= < (operand "yyyy/MM/dd HH:mm", minutes)
  labels = IN          component = IN (a component's name)
  key = IN             id / issue = IN > (a numeric id or a key)
  issueLinkType = IN   an issue with a link whose description, read from
                       that issue, is the value ("is caused by")
  issue IN linkedIssues(KEY[, "description"])
                       the issues linked to KEY; with a description, only
                       through links that read so from KEY's side
                       ("linkedIssues(INC-7, \"causes\")": what INC-7 causes)

evaluate(node, view) answers whether an issue matches; view is an object
with .id (text), .key, .project, .fields (dict: updated epoch seconds,
labels, components, issuelinks as [{"desc": text from this issue's side,
"other": id}]) and .resolve(key_or_id) -> id or None.
"""

import datetime
import re

FIELDS = {"project": ("=",), "updated": (">=", "<"), "labels": ("=", "in"),
          "component": ("=", "in"), "key": ("=", "in"), "id": ("=", "in", ">"),
          "issue": ("=", "in", ">"), "issuelinktype": ("=", "in")}
MINUTE = re.compile(r"^(\d{4})[/-](\d{2})[/-](\d{2}) (\d{2}):(\d{2})$")
TOKEN = re.compile(r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')'
                   r'|(?P<op>!=|>=|<=|=|>|<|~)|(?P<punct>[(),])'
                   r'|(?P<word>[A-Za-z0-9_.\-/:]+))')


class JqlError(Exception):
    """A query outside the subset or malformed: Jira's 400 message."""


def tokens(text):
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise JqlError("Error in the JQL Query: the character '%s' is a reserved JQL "
                           "character (at position %d)." % (text[pos:].strip()[0], pos))
        pos = m.end()
        if m.group("str") is not None:
            s = m.group("str")[1:-1]
            out.append(("str", re.sub(r"\\(.)", r"\1", s)))
        elif m.group("op"):
            out.append(("op", m.group("op")))
        elif m.group("punct"):
            out.append(("punct", m.group("punct")))
        else:
            out.append(("word", m.group("word")))
    return out


class Parser:
    def __init__(self, toks):
        self.t, self.i = toks, 0

    def peek(self, kind=None, value=None):
        if self.i >= len(self.t):
            return None
        k, v = self.t[self.i]
        if kind and k != kind:
            return None
        if value and (k != "word" and k != "punct" and k != "op" or v.lower() != value):
            return None
        return v

    def take(self, kind=None, value=None, what="more of the query"):
        v = self.peek(kind, value)
        if v is None:
            got = self.t[self.i][1] if self.i < len(self.t) else "the end of the query"
            raise JqlError("Error in the JQL Query: expecting %s but got '%s'." % (what, got))
        self.i += 1
        return v

    def expr(self):
        node = self.term()
        while self.peek("word", "or"):
            self.i += 1
            node = ("or", node, self.term())
        return node

    def term(self):
        node = self.factor()
        while self.peek("word", "and"):
            self.i += 1
            node = ("and", node, self.factor())
        return node

    def factor(self):
        if self.peek("word", "not"):
            self.i += 1
            return ("not", self.factor())
        if self.peek("punct", "("):
            self.i += 1
            node = self.expr()
            self.take("punct", ")", "')'")
            return node
        return self.clause()

    def value(self):
        if self.peek("str") is not None:
            return self.take("str")
        return self.take("word", what="a value")

    def clause(self):
        field = self.take("word", what="a field name").lower()
        if field not in FIELDS:
            raise JqlError("Field '%s' does not exist or you do not have permission to view it "
                           "(simulator subset: %s)." % (field, ", ".join(sorted(FIELDS))))
        negate = False
        if self.peek("word", "not"):
            self.i += 1
            negate = True
            op = self.take("word", "in", "'in'").lower()
        elif self.peek("word", "in"):
            op = self.take("word").lower()
        else:
            op = self.take("op", what="an operator")
        if op not in FIELDS[field]:
            raise JqlError("The operator '%s' is not supported by the '%s' field." % (op, field))
        if op == "in" and field == "issue" and self.peek("word", "linkedissues"):
            self.i += 1
            self.take("punct", "(", "'('")
            args = [self.value()]
            while self.peek("punct", ","):
                self.i += 1
                args.append(self.value())
            self.take("punct", ")", "')'")
            if len(args) > 2:
                raise JqlError("Function 'linkedIssues' expected between '1' and '2' arguments "
                               "but got '%d'." % len(args))
            node = ("linked", args[0], args[1] if len(args) > 1 else None)
        elif op == "in":
            self.take("punct", "(", "'('")
            vals = [self.value()]
            while self.peek("punct", ","):
                self.i += 1
                vals.append(self.value())
            self.take("punct", ")", "')'")
            node = ("in", field, [conv(field, v) for v in vals])
        else:
            node = ("cmp", field, op, conv(field, self.value()))
        return ("not", node) if negate else node


def conv(field, value):
    if field == "updated":
        m = MINUTE.match(value)
        if not m:
            raise JqlError("Date value '%s' for field 'updated' is invalid. Valid formats "
                           "include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm'." % value)
        y, mo, d, h, mi = (int(x) for x in m.groups())
        return datetime.datetime(y, mo, d, h, mi, tzinfo=datetime.timezone.utc).timestamp()
    if field in ("id", "issue") and not value.isdigit() and not re.match(r"^[A-Z][A-Z0-9_]+-\d+$", value):
        raise JqlError("The issue key '%s' for field '%s' is invalid." % (value, field))
    return value


def parse(jql):
    """-> (node or None, order (field, "ASC"|"DESC") or None); JqlError."""
    text = jql.strip()
    order = None
    m = re.search(r"\s*\bORDER\s+BY\s+(\w+)(\s+(ASC|DESC))?\s*$", text, re.I)
    if m:
        if m.group(1) not in ("updated", "created", "id"):
            raise JqlError("The simulator orders by updated, created or id only, not '%s'."
                           % m.group(1))
        order = (m.group(1), (m.group(3) or "ASC").upper())
        text = text[:m.start()]
    if re.search(r"\bORDER\s+BY\b", text, re.I):
        raise JqlError("Error in the JQL Query: ORDER BY must end the query.")
    toks = tokens(text)
    if not toks:
        return None, order
    p = Parser(toks)
    node = p.expr()
    if p.i != len(toks):
        raise JqlError("Error in the JQL Query: expecting AND, OR or the end of the query but "
                       "got '%s'." % toks[p.i][1])
    return node, order


def bounded(node):
    """Does the query restrict itself by project, key, id or label (a
    conjunct every match must satisfy)?  Jira refuses unbounded searches."""
    if node is None:
        return False
    if node[0] == "and":
        return bounded(node[1]) or bounded(node[2])
    if node[0] == "or":
        return bounded(node[1]) and bounded(node[2])
    if node[0] in ("cmp", "in"):
        return node[1] in ("project", "key", "id", "issue", "labels")
    return node[0] == "linked"


def same_issue(view, value):
    """A key or numeric id names the issue of view."""
    return value == view.id or value == view.key or view.resolve(value) == view.id


def evaluate(node, view):
    kind = node[0]
    if kind == "and":
        return evaluate(node[1], view) and evaluate(node[2], view)
    if kind == "or":
        return evaluate(node[1], view) or evaluate(node[2], view)
    if kind == "not":
        return not evaluate(node[1], view)
    f = view.fields
    if kind == "linked":
        anchor = view.resolve(node[1])
        if anchor is None:
            raise JqlError("The issue key '%s' for field 'issue' does not exist." % node[1])
        # a link reads the other way round from the anchor's side
        return any(l["other"] == anchor and (node[2] is None or l["anchor_desc"] == node[2])
                   for l in f.get("issuelinks", []))
    field = node[1]
    values = node[2] if kind == "in" else [node[3]]
    op = "=" if kind == "in" else node[2]

    def one(v):
        if field == "project":
            return view.project == v
        if field == "updated":
            return f["updated"] >= v if op == ">=" else f["updated"] < v
        if field == "labels":
            return v in f.get("labels", [])
        if field == "component":
            return v in f.get("components", [])
        if field == "issuelinktype":
            return any(l["desc"] == v for l in f.get("issuelinks", []))
        if field == "key":
            return view.key == v or view.resolve(v) == view.id
        if op == ">":
            return v.isdigit() and int(view.id) > int(v)
        return same_issue(view, v)
    return any(one(v) for v in values)
