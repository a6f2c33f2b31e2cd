"""GitHub's GraphQL endpoint (POST /graphql) for the simulator: Projects
(v2) boards, as closeloop's project discovery reads them
(connectors/github_project.c).

Facts followed (GitHub GraphQL API docs, schema of @octokit/graphql-schema
pinned in tests/sim/recorded/package.json):
  - a request is POST {"query": ..., "variables": {...}}; an error is
    HTTP 200 with {"data": ..., "errors": [{"type", "path", "locations",
    "message"}]} (NOT_FOUND for a project number an owner does not have);
    an unknown login under repositoryOwner(login:) is data null without
    an error;
  - connections need first or last within 1..100, else an error
    (MISSING_PAGINATION_BOUNDARIES / an argument error);
  - the primary limit is GraphQL's own budget of points (5,000 an hour;
    headers x-ratelimit-* with x-ratelimit-resource: graphql); spent, the
    answer is HTTP 200 with an error of type RATE_LIMITED and
    x-ratelimit-remaining: 0;
  - items are ordered by position (the order they were added here) and
    paged by an opaque cursor; ProjectV2.updatedAt moves when an item is
    added or removed (a field value set on an item moves only the item's
    updatedAt, unless the admin call says otherwise: GitHub does not
    document it, and closeloop must not rely on it).

This is not a GraphQL engine: it answers the three documents closeloop
sends (the probe, a page of items, nodes by id), recognised by their
fields, with every field those documents select.  tests/sim/
test_github_graphql.py checks with graphql-js against GitHub's schema that
those documents are valid and that these answers are what the schema
allows for them.

Admin (tests/sim/github_sim.py /_sim/projects...): projects are made,
items added, removed and their single-select field set from a test.
"""
import base64
import json

POINTS_PER_HOUR = 5000


def b64(s):
    return base64.b64encode(s.encode()).decode().rstrip("=")


def iso(ts):
    import time
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(ts)))


class Projects:
    """Boards and GraphQL's own budget (the caller holds the state lock)."""

    def __init__(self):
        self.boards = {}          # (lower owner, number) -> board
        self.next_id = 1
        self.points_limit = POINTS_PER_HOUR
        self.points_used = 0
        self.points_reset = 0
        self.queries = []         # (document, variables) received, for the schema test
        self.users = set()        # lower logins whose boards are a user's (else an organization's)

    # ---- admin ----
    def create(self, owner, number, now, user=False):
        if user:
            self.users.add(owner.lower())
        key = (owner.lower(), int(number))
        if key not in self.boards:
            self.boards[key] = {"id": "PVT_kwDO" + b64("%s:%d" % key), "owner": owner,
                                "number": int(number), "updated_at": int(now), "items": []}
        return self.boards[key]

    def board(self, owner, number):
        return self.boards.get((owner.lower(), int(number)))

    def add(self, board, issue, fields, now, touch=True):
        self.next_id += 1
        item = {"id": "PVTI_lADO" + b64(str(self.next_id)), "issue": issue,
                "fields": dict(fields or {}), "updated_at": int(now)}
        board["items"].append(item)
        if touch:
            board["updated_at"] = int(now)
        return item

    def remove(self, board, issue, now, touch=True):
        before = len(board["items"])
        board["items"] = [it for it in board["items"] if it["issue"] is not issue]
        if touch and len(board["items"]) != before:
            board["updated_at"] = int(now)
        return before - len(board["items"])

    def set_field(self, board, issue, name, value, now, touch=False):
        n = 0
        for it in board["items"]:
            if it["issue"] is issue:
                it["fields"][name] = value
                it["updated_at"] = int(now)
                n += 1
        if touch and n:
            board["updated_at"] = int(now)
        return n

    # ---- the endpoint ----
    def rate_headers(self, now):
        if now >= self.points_reset:
            self.points_used = 0
            self.points_reset = int(now) + 3600
        return {"x-ratelimit-limit": str(self.points_limit),
                "x-ratelimit-remaining": str(max(self.points_limit - self.points_used, 0)),
                "x-ratelimit-reset": str(int(self.points_reset)),
                "x-ratelimit-used": str(self.points_used),
                "x-ratelimit-resource": "graphql"}

    def answer(self, raw, render_issue, issue_by_node, now):
        """(status, body dict, headers) for one POST /graphql body."""
        headers = self.rate_headers(now)
        try:
            req = json.loads(raw or b"{}")
            doc = req["query"]
            var = req.get("variables") or {}
            if not isinstance(doc, str) or not isinstance(var, dict):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            return 400, {"message": "Problems parsing JSON",
                         "documentation_url": "https://docs.github.com/graphql"}, headers
        self.queries.append((doc, var))
        if self.points_used >= self.points_limit:
            headers["x-ratelimit-remaining"] = "0"
            return 200, {"errors": [{"type": "RATE_LIMITED", "message":
                                     "API rate limit already exceeded for user ID 9000001."}]}, headers
        self.points_used += 1
        headers = self.rate_headers(now)
        if "nodes(ids:" in doc:
            return 200, {"data": {"nodes": [self.issue_node(issue_by_node(i), render_issue)
                                            for i in var.get("ids") or []]}}, headers
        if "projectV2(number:" not in doc or "repositoryOwner(login:" not in doc:
            return 200, {"errors": [{"message": "closeloop's simulator answers only the project "
                                                "queries closeloop sends",
                                     "locations": [{"line": 1, "column": 1}]}]}, headers
        owner, number = var.get("owner"), var.get("number")
        board = self.board(owner or "", number or 0) if isinstance(number, int) else None
        known = board is not None or any(k[0] == (owner or "").lower() for k in self.boards)
        if not known:
            return 200, {"data": {"repositoryOwner": None}}, headers
        kind = "User" if (owner or "").lower() in self.users else "Organization"
        if board is None:
            return 200, {"data": {"repositoryOwner": {"__typename": kind, "projectV2": None}}, "errors": [{
                "type": "NOT_FOUND", "path": ["repositoryOwner", "projectV2"],
                "locations": [{"line": 1, "column": 1}],
                "message": "Could not resolve to a ProjectV2 with the number %s." % number}]}, headers
        if "items(first:1)" in doc:
            proj = {"id": board["id"], "updatedAt": iso(board["updated_at"]),
                    "items": {"totalCount": len(board["items"])}}
            return 200, {"data": {"repositoryOwner": {"__typename": kind, "projectV2": proj}}}, headers
        return self.items_page(board, var, kind, render_issue, headers)

    def items_page(self, board, var, kind, render_issue, headers):
        after = var.get("cursor")
        start = 0
        if after is not None:
            try:
                start = int(base64.b64decode(after + "==").decode().split(":")[1])
            except (ValueError, IndexError):
                return 200, {"data": None, "errors": [{
                    "message": "`%s` does not appear to be a valid cursor." % after,
                    "locations": [{"line": 1, "column": 1}], "path": ["repositoryOwner",
                                                                     "projectV2", "items"]}]}, headers
        first = 100
        items = board["items"][start:start + first]
        end = start + len(items)
        nodes = []
        for it in items:
            node = {}
            if var.get("filter"):
                v = it["fields"].get(var.get("field"))
                node["fieldValueByName"] = ({"__typename": "ProjectV2ItemFieldSingleSelectValue",
                                             "name": v} if v is not None else None)
            node["content"] = self.issue_node(it["issue"], render_issue)
            nodes.append(node)
        cursor = b64("cursor:%d" % end) if items else None
        page = {"pageInfo": {"hasNextPage": end < len(board["items"]), "endCursor": cursor},
                "nodes": nodes}
        return 200, {"data": {"repositoryOwner": {"__typename": kind,
                                                  "projectV2": {"items": page}}}}, headers

    @staticmethod
    def issue_node(issue, render_issue):
        """An Issue as GQL_ISSUE_FRAGMENT selects it (None for a deleted one)."""
        if issue is None or issue.get("deleted"):
            return None
        r = render_issue(issue)
        reason = issue.get("state_reason")
        if issue.get("pull"):  # a pull request on the board: content PullRequest
            return {"__typename": "PullRequest"}
        return {"__typename": "Issue", "id": issue["node_id"], "fullDatabaseId": str(issue["id"]),
                "number": issue["number"], "title": issue["title"], "body": issue["body"] or "",
                "state": issue["state"].upper(), "stateReason": reason.upper() if reason else None,
                "url": r["html_url"], "updatedAt": r["updated_at"],
                "repository": {"nameWithOwner": "%s/%s" % (issue["repo"]["owner"],
                                                           issue["repo"]["name"])},
                "labels": {"nodes": [{"name": n} for n in issue["labels"]]},
                "assignees": {"nodes": [{"login": a} for a in issue["assignees"]]}}
