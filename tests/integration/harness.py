"""harness.py — shared machinery for the integration tests, the demo and the
benchmark: a throwaway PostgreSQL cluster (tests/pgtmp.sh), the GitHub
simulator (tests/sim/github_sim.py), closeloop configuration files, and
helpers to run the real `closeloop` binary and to query the ledger with psql.

Standard library only (python3 from Debian)."""

import atexit
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("CLOSELOOP_BIN") or os.path.join(ROOT, "build", "closeloop")
SIM = os.path.join(ROOT, "tests", "sim", "github_sim.py")
# The repositories the tests' token sees (github_sim.py --repos): every
# repository of these owners exists; any other answers 404, as on GitHub.
TEST_REPOS = ("dfds/*", "etcd-io/*", "acme/*", "o/*", "bench/*")
PGTMP = os.path.join(ROOT, "tests", "pgtmp.sh")
TOKEN = "ghp_closeloopTestToken0123456789abcdef"
JIRA_SIM = os.path.join(ROOT, "tests", "sim", "jira_sim.py")
JIRA_EMAIL, JIRA_API_TOKEN = "closeloop-bot@example.com", "ATATT3xFfGF0closeloopTestToken"


def pg_client():
    """The psql client of the newest PostgreSQL under /usr/lib/postgresql
    (Debian's layout, the one tests/pgtmp.sh starts; PGBIN names another):
    /usr/bin/psql is postgresql-common's Perl wrapper, which takes about
    0.2 s to start -- most of a model-based scenario's ledger readings."""
    if os.environ.get("PGBIN"):
        return os.path.join(os.environ["PGBIN"], "psql")
    found = []
    base = "/usr/lib/postgresql"
    for v in os.listdir(base) if os.path.isdir(base) else ():
        if v.isdigit() and os.access(os.path.join(base, v, "bin", "psql"), os.X_OK):
            found.append((int(v), os.path.join(base, v, "bin", "psql")))
    return max(found)[1] if found else "psql"


PSQL = pg_client()
PY = shutil.which("python3", path="/usr/bin") or sys.executable

# Sanitizer reports (`make SANITIZE=address,undefined check`): every
# process this harness starts -- daemons, one-shot commands, whatever their
# stdout and stderr are sent to -- writes an AddressSanitizer or
# LeakSanitizer report to SAN_DIR/report.PID instead of its stderr (the
# runtime's log_path option; the file appears only when there is a
# report), so no report is lost in a log nobody reads.  GCC's UBSan
# runtime ignores log_path next to ASan's (Debian 12, GCC 12: its reports
# still go to stderr), so the output of every closeloop process the
# harness runs is also read for a report (san_scan: closeloop(), Daemon,
# and the runners' own processes), which is copied to SAN_DIR.  The
# runners call san_reports() around each test and batch and fail it on
# any new file.  The options already set (the Makefile's halt_on_error,
# detect_leaks, suppressions) are kept; a binary built without the
# sanitizers ignores them.
SAN_DIR = os.path.join(ROOT, "build", "work", "sanitizer-%d" % os.getpid())
os.makedirs(SAN_DIR, exist_ok=True)     # the runtime dies when it cannot open the file


@atexit.register
def _drop_empty_san_dir():
    if os.path.isdir(SAN_DIR) and not os.listdir(SAN_DIR):
        os.rmdir(SAN_DIR)


# quoted: the sanitizer runtime's option parser ends a value at a space
# or a colon (a checkout in "/home/me/my work" made every sanitized
# binary refuse its options: "expected '=' in ASAN_OPTIONS")
for _var in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
    os.environ[_var] = ":".join(o for o in (os.environ.get(_var, ""),
                                            "log_path='%s'" % os.path.join(SAN_DIR, "report")) if o)


# the first line of a report: UBSan's "file:line:col: runtime error: ...",
# ASan's and LeakSanitizer's "==PID==ERROR: ...Sanitizer: ..."
SAN_REPORT = re.compile(r"^.*(?:\bruntime error: |==\d+==ERROR: \w+Sanitizer)", re.M)


def san_scan(text, what):
    """Copy the sanitizer reports in text (a closeloop process's output;
    what names the process) to SAN_DIR/output.N; returns how many."""
    found = list(SAN_REPORT.finditer(text or ""))
    for m in found:
        name = "output.%d.%d" % (os.getpid(), len(os.listdir(SAN_DIR)))
        with open(os.path.join(SAN_DIR, name), "w") as f:
            f.write("%s:\n%s\n" % (what, text[m.start():m.start() + 6000]))
    return len(found)


def san_reports(seen=None):
    """The sanitizer reports written so far that are not in seen (a set of
    file names, updated): a list of (file name, text).  Reports are written
    when a process finds an error or, for leaks, when it exits, so call
    this after the processes of a test have been stopped."""
    seen = set() if seen is None else seen
    try:
        names = sorted(os.listdir(SAN_DIR))
    except FileNotFoundError:
        return []
    new = []
    for n in names:
        if n in seen:
            continue
        seen.add(n)
        with open(os.path.join(SAN_DIR, n), errors="replace") as f:
            new.append((n, f.read()))
    return new


class Cluster:
    """A throwaway PostgreSQL cluster (tests/pgtmp.sh), Unix socket only.
    WORKDIR/pg records where it is; the cluster itself lives in a mktemp
    directory under /tmp that the server's account owns, so the checkout
    may be private (0700) and its path may hold spaces."""

    def __init__(self, workdir, port):
        self.dir = os.path.join(workdir, "pg")
        self.port = port
        out = subprocess.run(["sh", PGTMP, "start", self.dir, str(port)],
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError("could not start PostgreSQL (tests/pgtmp.sh):\n" + out.stderr)
        self.admin_dsn = out.stdout.strip().splitlines()[-1]
        fields = dict(kv.split("=", 1) for kv in self.admin_dsn.split())
        self.sockdir = fields["host"]

    def dsn(self, dbname):
        return "host=%s port=%d dbname=%s user=postgres" % (self.sockdir, self.port, dbname)

    def createdb(self, name):
        psql(self.admin_dsn, "DROP DATABASE IF EXISTS %s" % name)
        psql(self.admin_dsn, "CREATE DATABASE %s" % name)
        return self.dsn(name)

    def stop(self, keep=False):
        """Stop the server; remove the cluster unless keep (a later
        Cluster(workdir, port) then starts the same one again)."""
        subprocess.run(["sh", PGTMP, "stop" if keep else "destroy", self.dir], capture_output=True)


def psql(dsn, sql, *args):
    """Run one statement; return rows as lists of strings ('' for NULL)."""
    cmd = [PSQL, "-X", "-q", "-A", "-t", "-F", "\x1f", "-v", "ON_ERROR_STOP=1", "-d", dsn]
    for i, a in enumerate(args):
        cmd += ["-v", "p%d=%s" % (i + 1, a)]
    cmd += ["-c", sql]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError("psql failed: %s\n%s" % (sql, out.stderr))
    return [line.split("\x1f") for line in out.stdout.splitlines() if line != ""]


def scalar(dsn, sql):
    rows = psql(dsn, sql)
    return rows[0][0] if rows else None


class Simulator:
    """The GitHub simulator on a loopback port (or another tracker's:
    script and its own authentication arguments, name for its files)."""

    def __init__(self, workdir, extra_args=(), html_base=None, script=SIM,
                 auth_args=("--token", TOKEN), name="sim", repos=TEST_REPOS):
        self.workdir = workdir
        portfile = os.path.join(workdir, name + ".port")
        if os.path.exists(portfile):
            os.unlink(portfile)
        self.log = open(os.path.join(workdir, name + ".log"), "a")
        args = [PY, script, "--port", "0", "--port-file", portfile] + list(auth_args)
        if script == SIM:  # the repositories the token sees (github_sim.py --repos)
            args += ["--repos", ",".join(repos)]
        args += list(extra_args)
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log)
        deadline = time.time() + 20
        while time.time() < deadline:
            if os.path.exists(portfile) and open(portfile).read().strip():
                break
            if self.proc.poll() is not None:
                raise RuntimeError("simulator exited, see %s/%s.log" % (workdir, name))
            time.sleep(0.05)
        else:
            raise RuntimeError("simulator did not start")
        self.port = int(open(portfile).read().strip())
        self.url = "http://127.0.0.1:%d" % self.port

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                raw = r.read()
        except urllib.error.HTTPError as e:
            raise RuntimeError("simulator %s %s: HTTP %d %s" % (method, path, e.code, e.read()[:300]))
        return json.loads(raw) if raw else None

    def stats(self):
        return self.call("GET", "/_sim/stats")

    def reset_stats(self):
        self.call("POST", "/_sim/stats/reset", {})

    def issues(self, repo):
        res = self.call("GET", "/_sim/issues?repo=" + repo)
        return res["issues"] if isinstance(res, dict) and "issues" in res else res

    def live_issues(self, repo):
        return [i for i in self.issues(repo)
                if not i.get("pull_request") and not i.get("deleted") and not i.get("transferred_to")]

    def edit(self, repo, number, fields):
        o, r = repo.split("/")
        return self.call("POST", "/_sim/issues/%s/%s/%d/edit" % (o, r, number), fields)

    def fault(self, match, action, count=1, after=False):
        f = {"match": match, "count": count, "action": action}
        if after:
            f["after"] = True
        return self.call("POST", "/_sim/faults", f)

    def clear_faults(self):
        self.call("DELETE", "/_sim/faults")

    def seed(self, spec):
        return self.call("POST", "/_sim/seed", spec)

    def stop(self):
        terminate(self.proc)
        self.log.close()


class JiraSimulator(Simulator):
    """The Jira Cloud simulator (tests/sim/jira_sim.py)."""

    def __init__(self, workdir, extra_args=()):
        super().__init__(workdir, extra_args, script=JIRA_SIM, name="jira-sim",
                         auth_args=("--email", JIRA_EMAIL, "--token", JIRA_API_TOKEN))

    def issues(self, project=None):
        return [i for i in self.call("GET", "/_sim/issues")
                if project is None or i["project"] == project]

    def requests(self):
        return self.call("GET", "/_sim/requests")


SN_SIM = os.path.join(ROOT, "tests", "sim", "servicenow_sim.py")
SN_USER, SN_PASSWORD = "closeloop", "sn-s3cret-pw"
SN_GROUP = "8a4dde73c6112278017a6a4baf547aa7"   # an assignment group's sys_id


class ServiceNowSimulator(Simulator):
    """The ServiceNow Table API simulator (tests/sim/servicenow_sim.py);
    basic credentials SN_USER:SN_PASSWORD (env() exports them)."""

    def __init__(self, workdir, extra_args=()):
        super().__init__(workdir, extra_args, script=SN_SIM, name="snsim",
                         auth_args=("--user", SN_USER, "--password", SN_PASSWORD))

    def records(self):
        return self.call("GET", "/_sim/records")

    def journal(self):
        return self.call("GET", "/_sim/journal")


def servicenow_connector(name, url, targets, extra=""):
    """A ServiceNow connector entry for a `connectors = ( ... )` list."""
    return ('{ name = "%s"; type = "servicenow"; base_url = "%s"; '
            'token_env = "CLOSELOOP_SN_CREDENTIALS"; targets = [ %s ]; max_inflight = 2; '
            'max_attempts = 4; request_timeout = 10; write_spacing_ms = 0; page_size = 50;%s }'
            % (name, url, ", ".join('"%s"' % t for t in targets), extra))


def terminate(proc, timeout=10):
    """SIGTERM proc (a simulator), SIGKILL it after timeout seconds."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()


def jira_connector(name, url, targets, spacing_ms=5):
    """A Jira connector group for write_config's more_connectors."""
    return (', { name = "%s"; type = "jira"; base_url = "%s"; '
            'token_env = "CLOSELOOP_JIRA_CREDENTIALS"; targets = [ %s ]; '
            'write_spacing_ms = %d; }' % (name, url, ", ".join('"%s"' % t for t in targets),
                                          spacing_ms))


def write_jira_config(path, dsn, sim_url, targets, directory, extra="", name="jira-test",
                      spacing_ms=5, max_inflight=4):
    """A configuration with one Jira connector (CLOSELOOP_JIRA_CREDENTIALS)."""
    text = 'database = { dsn = "%s"; };\n' % dsn
    text += ('log_level = "info";\npoll_interval = 10;\nnotify_debounce_ms = 200;\noverlap = 120;\n'
             'directory = "%s";\n' % directory)
    text += extra
    text += ('connectors = ( { name = "%s"; type = "jira"; base_url = "%s"; '
             'token_env = "CLOSELOOP_JIRA_CREDENTIALS"; targets = [ %s ]; '
             'max_inflight = %d; max_attempts = 5; request_timeout = 10; '
             'write_spacing_ms = %d; } );\n'
             % (name, sim_url, ", ".join('"%s"' % t for t in targets), max_inflight, spacing_ms))
    with open(path, "w") as f:
        f.write(text)


def write_directory(path, teams, people=(), platforms=None):
    """teams: list of (name, platform, connector, target)."""
    platforms = platforms or sorted({t[1] for t in teams})
    lines = ["platforms = ("]
    lines.append(",\n".join('  { name = "%s"; lead = "lead-%s"; }' % (p, p) for p in platforms))
    lines.append(");")
    lines.append("teams = (")
    lines.append(",\n".join('  { name = "%s"; platform = "%s"; connector = "%s"; target = "%s"; }' % t
                            for t in teams))
    lines.append(");")
    ppl = [('lead-%s' % p, 'Lead of %s' % p, 'lead-%s-gh' % p) for p in platforms] + list(people)
    lines.append("people = (")
    lines.append(",\n".join('  { handle = "%s"; name = "%s"; email = "%s@example.com";%s active = true; }'
                            % (h, n, h, ' github = "%s";' % g if g else "") for h, n, g in ppl))
    lines.append(");")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


# Write pacing for tests: (write_spacing_ms, creates_per_minute,
# creates_per_hour).  The simulator enforces GitHub's secondary limits by
# default (80 creates a minute, 500 an hour, one write at a time); tests
# keep GitHub's budgets and only shorten the spacing, which the simulator
# does not police, so that a few dozen creates take a second, not a minute.
TEST_PACING = (20, 80, 500)
# For the few tests (and the benchmark) that create hundreds of issues and
# cannot wait GitHub's minutes: raise the simulator's budgets with
# SIM_RAISED_LIMITS and the connector's with RAISED_PACING, and say so.
SIM_RAISED_LIMITS = ("--creates-per-minute", "100000", "--creates-per-hour", "1000000")
RAISED_PACING = (5, 100000, 1000000)


def write_config(path, dsn, sim_url, targets, directory=None, poll=10, policy=None,
                 connector="github-test", extra="", max_inflight=4, max_attempts=5,
                 request_timeout=10, pacing=TEST_PACING, more_connectors=""):
    """more_connectors: further connector groups (text starting with a
    comma) after the GitHub one."""
    pol = policy or {}
    pol_lines = "".join('  %s = "%s";\n' % kv for kv in sorted(pol.items()))
    text = 'database = { dsn = "%s"; };\n' % dsn
    text += 'log_level = "info";\npoll_interval = %d;\nnotify_debounce_ms = 200;\noverlap = 120;\n' % poll
    if directory:
        text += 'directory = "%s";\n' % directory
    if pol_lines:
        text += "conflict_policy = {\n%s};\n" % pol_lines
    text += extra
    text += ('connectors = ( { name = "%s"; type = "github"; base_url = "%s"; '
             'token_env = "CLOSELOOP_GITHUB_TOKEN"; targets = [ %s ]; max_inflight = %d; '
             'max_attempts = %d; request_timeout = %d; write_spacing_ms = %d; '
             'creates_per_minute = %d; creates_per_hour = %d; }%s );\n'
             % ((connector, sim_url, ", ".join('"%s"' % t for t in targets), max_inflight,
                 max_attempts, request_timeout) + tuple(pacing) + (more_connectors,)))
    with open(path, "w") as f:
        f.write(text)


def write_postmortems(outdir, n_items, per_pm=25, prefix="Synthetic"):
    """Write postmortems holding n_items action items in total (per_pm to a
    document) into outdir; returns their paths."""
    os.makedirs(outdir, exist_ok=True)
    files, n, pm = [], 0, 0
    while n < n_items:
        k = min(per_pm, n_items - n)
        path = os.path.join(outdir, "PM2026-%04d - %s incident %d.md" % (pm, prefix.lower(), pm))
        with open(path, "w") as f:
            f.write("# %s incident %d\n\n## Summary\n\nGenerated for a test.\n\n" % (prefix, pm))
            f.write("## Action Items\n\n| Action Item | Type | Owner | Priority | Due Date |\n")
            f.write("| --- | --- | --- | --- | --- |\n")
            for i in range(k):
                f.write("| Fix thing %d of incident %d | Prevent | rf | P%d | 2027-0%d-1%d |\n"
                        % (i, pm, i % 4, 1 + i % 9, i % 10))
        files.append(path)
        n += k
        pm += 1
    return files


def env():
    e = dict(os.environ)
    e["CLOSELOOP_GITHUB_TOKEN"] = TOKEN
    e.setdefault("CLOSELOOP_SN_CREDENTIALS", "%s:%s" % (SN_USER, SN_PASSWORD))
    e["CLOSELOOP_JIRA_CREDENTIALS"] = "%s:%s" % (JIRA_EMAIL, JIRA_API_TOKEN)
    e["CLOSELOOP_JIRA_DC_PAT"] = JIRA_API_TOKEN  # Data Center: a personal access token
    e.pop("CLOSELOOP_CONFIG", None)
    return e


def closeloop(*args, check=True, timeout=300):
    """Run the binary; return CompletedProcess (text)."""
    out = subprocess.run([BIN] + list(args), capture_output=True, text=True, env=env(),
                         timeout=timeout)
    san_scan(out.stdout + out.stderr, "closeloop " + " ".join(args))
    if check and out.returncode != 0:
        raise RuntimeError("closeloop %s exited %d\nstdout:\n%s\nstderr:\n%s"
                           % (" ".join(args), out.returncode, out.stdout[-3000:], out.stderr[-3000:]))
    return out


def end_sessions(dsn, appname, what):
    """pg_terminate_backend every session called appname (libpq's
    application_name) and wait until they are gone."""
    sessions = ("SELECT pid FROM pg_stat_activity WHERE application_name = '%s'"
                " AND pid <> pg_backend_pid()" % appname)
    psql(dsn, "SELECT pg_terminate_backend(pid) FROM (%s) s" % sessions)
    if not wait_for(lambda: not psql(dsn, sessions), timeout=30):
        raise AssertionError("%s: its sessions did not end" % what)


class RowHolder:
    """A psql session that locks rows (`sql`, a SELECT ... FOR UPDATE) and
    sleeps a minute holding them; release() ends it.  Killing psql alone
    would not do: its backend sleeps on, holding the rows."""

    seq = 0

    def __init__(self, dsn, sql):
        RowHolder.seq += 1
        self.dsn = dsn
        self.appname = "row-holder-%d-%d" % (os.getpid(), RowHolder.seq)
        self.proc = subprocess.Popen([PSQL, "-X", "-q", "-d", dsn, "-c", "BEGIN", "-c", sql,
                                      "-c", "SELECT pg_sleep(60)"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL,  # "connection to server was lost"
                                     env=dict(os.environ, PGAPPNAME=self.appname))

    def release(self):
        if self.proc is None:
            return
        end_sessions(self.dsn, self.appname, "the row holder")
        self.proc.kill()
        self.proc.wait()
        self.proc = None


class Daemon:
    """`closeloop run` in the background with its log in a file."""

    seq = 0

    def __init__(self, config, logpath, extra_env=None):
        self.logpath = logpath
        self.logf = open(logpath, "a")
        self.log_start = self.logf.tell()   # the log may hold an earlier daemon's
        e = env()
        # its ledger sessions are named after it (libpq's PGAPPNAME; the
        # daemon sets no application_name), for kill9()
        Daemon.seq += 1
        self.appname = "closeloop-run-%d-%d" % (os.getpid(), Daemon.seq)
        e["PGAPPNAME"] = self.appname
        e.update(extra_env or {})
        self.proc = subprocess.Popen([BIN, "run", "-c", config], stdout=self.logf,
                                     stderr=subprocess.STDOUT, env=e)

    def log(self):
        with open(self.logpath) as f:
            return f.read()

    def wait_log(self, needle, timeout=60, start=0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            text = self.log()
            if needle in text[start:]:
                return True
            if self.proc.poll() is not None:
                return needle in self.log()[start:]
            time.sleep(0.1)
        return False

    def signal(self, sig):
        self.proc.send_signal(sig)

    def kill9(self, dsn, timeout=20):
        """SIGKILL the daemon and wait for its ledger sessions to end on
        their own, as a restarted daemon needs them to.  A backend notices
        a vanished client only when it next reads or writes the socket,
        unless client_connection_check_interval is set, as the daemon sets
        it (5 s, daemon/ledger/db.c): without it a statement waiting for a
        row ran on, committed the dead daemon's write once the row was
        free, and held the connector's advisory lock until then (every
        later cycle: "another daemon works this connector; skipped")."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        sessions = "SELECT pid FROM pg_stat_activity WHERE application_name = '%s'" % self.appname
        if not wait_for(lambda: not psql(dsn, sessions), timeout=timeout, step=0.5):
            raise AssertionError("the killed daemon's sessions are still there %d s later: %r"
                                 % (timeout, psql(dsn, sessions)))

    def stop(self, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()
        if self.log_start is not None:
            with open(self.logpath, "rb") as f:
                f.seek(self.log_start)
                san_scan(f.read().decode(errors="replace"), "closeloop run (%s)" % self.logpath)
            self.log_start = None   # read once, also when stopped again
        return self.proc.returncode


def wait_for(pred, timeout=30, step=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def workdir(prefix):
    base = os.path.join(ROOT, "build", "work")
    os.makedirs(base, exist_ok=True)
    d = tempfile.mkdtemp(prefix=prefix, dir=base)
    os.chmod(d, 0o755)
    return d


def grafana_expand(sql, platforms, t_from, t_to):
    """Grafana's PostgreSQL macros and a multi-value template variable, as
    Grafana expands them before sending the query (docs: "PostgreSQL query
    editor", macros)."""
    sql = re.sub(r"\$__timeFilter\(([^()]*(?:\([^()]*\))?[^()]*)\)",
                 lambda m: "%s BETWEEN '%s' AND '%s'" % (m.group(1), t_from, t_to), sql)
    sql = re.sub(r"\$__timeGroupAlias\(([^,]+),\s*1d\)",
                 lambda m: 'floor(extract(epoch from %s)/86400)*86400 AS "time"' % m.group(1), sql)
    sql = sql.replace("$platform", ",".join("'%s'" % p for p in platforms))
    if "$" in sql:
        raise AssertionError("a macro was not expanded: " + sql)
    return sql
