"""jira_dc.py - what Jira Data Center / Server (REST v2) does differently
from Jira Cloud (REST v3), for tests/sim/jira_sim.py --flavor datacenter.

Facts (Atlassian, "Jira Server platform REST API reference" /rest/api/2,
"JIRA REST API examples" for Server, "Using Personal Access Tokens"):

  - every path is under /rest/api/2; /rest/api/3 does not exist (404);
  - authentication: "Authorization: Bearer <personal access token>";
  - `description` and comment bodies are strings of wiki markup (an ADF
    object is refused: 400 errors.description / errors.comment);
  - users are named: the assignee is {"name": "jdoe"} when written and
    {"name", "key", "displayName", "active"} when read; an unknown name is a
    400 errors.assignee "User 'x' does not exist.";
  - GET|POST /rest/api/2/search pages by offset: {"jql", "startAt",
    "maxResults", "fields"} -> {"startAt", "maxResults", "total",
    "issues"}; the server caps maxResults (jira.search.views.default.max,
    --max-results here), so a page may be short while more follow: only
    startAt + len(issues) >= total ends the results;
  - errors are {"errorMessages": [...], "errors": {field: message}} as on
    Cloud.
"""

API = {"cloud": "/rest/api/3", "datacenter": "/rest/api/2"}


def description_error(flavor, d):
    """The errors.description message for a description value, or None."""
    if d is None:
        return None
    if flavor == "datacenter":
        return None if isinstance(d, str) else "Operation value must be a string"
    if isinstance(d, dict) and d.get("type") == "doc" and d.get("version") == 1 \
            and isinstance(d.get("content"), list):
        return None
    return "Operation value must be an Atlassian Document (see the Atlassian Document Format)"


def assignee_of(flavor, value):
    """The user id a written assignee object names (accountId or name)."""
    return (value or {}).get("name" if flavor == "datacenter" else "accountId")


def assignee_error(flavor, user):
    if flavor == "datacenter":
        return "User '%s' does not exist." % user
    return "Specified user does not exist or you do not have required permissions"


def render_assignee(flavor, user):
    if not user:
        return None
    if flavor == "datacenter":
        return {"name": user, "key": "JIRAUSER%d" % (10000 + sum(map(ord, user))),
                "displayName": user, "active": True}
    return {"accountId": user, "active": True, "displayName": user}


def comment_error(flavor, body):
    """The errors.comment message for a comment body, or None."""
    if flavor == "datacenter":
        return None if isinstance(body, str) and body.strip() else "Comment body can not be empty!"
    if isinstance(body, dict) and body.get("type") == "doc":
        return None
    return "Comment body must be an Atlassian Document."


def search_query(method, query, data):
    """The search request as a dict (GET query string or POST body)."""
    if method == "GET":
        q = {k: v[0] for k, v in query.items()}
        if "fields" in q:
            q["fields"] = q["fields"].split(",")
        for k in ("maxResults", "startAt"):
            if k in q:
                q[k] = int(q[k])
        return q
    return data or {}


def search_window(q, cap):
    """(start, limit) of a REST v2 search: startAt as asked, maxResults
    capped by the server (cap)."""
    start = max(0, int(q.get("startAt") or 0))
    limit = max(1, min(int(q.get("maxResults") or 50), cap))
    return start, limit


def search_envelope(start, limit, total, issues):
    return {"startAt": start, "maxResults": limit, "total": total, "issues": issues}
