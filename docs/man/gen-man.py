#!/usr/bin/env python3
"""gen-man.py BIN OUTDIR — write closeloop.8 and closeloop.conf.5 into OUTDIR.

closeloop(8) is generated from the binary itself: `BIN help` lists the
rows of the subcommand table (daemon/main.c) and `BIN SUBCOMMAND --help`
gives each one's synopsis, options and example, so the page cannot drift
from the command line.  closeloop.conf(5) is generated from the option
tables in docs/configuration.md, which tests/unit/test_config.c checks
against the configuration's option table (config.c cfg_options[]) and the
connector registry.  Standard library only."""

import datetime
import os
import re
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def esc(text):
    """roff-escape plain text; `code` becomes bold."""
    text = text.replace("\\", "\\e")
    parts = re.split(r"`([^`]*)`", text)
    out = []
    for i, p in enumerate(parts):
        out.append("\\fB%s\\fR" % p if i % 2 else p)
    s = "".join(out)
    s = re.sub(r"\*\*([^*]+)\*\*", r"\\fB\1\\fR", s)
    s = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", s)
    # non-ASCII as groff's Unicode escapes, so no preconv is needed
    return "".join(c if ord(c) < 128 else "\\[u%04X]" % ord(c) for c in s)


def line(s):
    """A text line that roff will not take for a request."""
    s = esc(s)
    return "\\&" + s if s[:1] in (".", "'") else s


def run(binary, *args):
    out = subprocess.run([binary] + list(args), capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("gen-man: %s %s exited %d: %s" % (binary, " ".join(args), out.returncode, out.stderr))
    return out.stdout


def parse_help(text):
    """(usage line, summary, [(option, help)], example) from SUBCOMMAND --help."""
    blocks = text.split("\n\n")
    usage = blocks[0].replace("usage: ", "", 1).strip()
    summary = blocks[1].strip()
    opts, example = [], ""
    for b in blocks[2:]:
        if b.startswith("options:"):
            for ln in b.splitlines()[1:]:
                m = re.match(r"\s+(.*?)\s{2,}(.*)", ln)
                if m:
                    opts.append((m.group(1).strip(), m.group(2).strip()))
        elif b.startswith("example:"):
            example = b.split("\n", 1)[1].strip()
    return usage, summary, opts, example


def man8(binary, version, date):
    top = run(binary, "help")
    cmds = [l.split()[0] for l in top.split("subcommands:\n", 1)[1].split("\n\n", 1)[0].splitlines()
            if l.strip()]
    glob = parse_help("x\n\nx\n\n" + top.split("\n\n", 3)[2].replace("options (every subcommand):", "options:"))[2]
    o = [".TH CLOSELOOP 8 \"%s\" \"closeloop %s\" \"System Administration\"" % (date, version),
         ".SH NAME", "closeloop \\- keep postmortem action items in a PostgreSQL ledger and "
         "reconcile them with trackers",
         ".SH SYNOPSIS", ".B closeloop", "[\\fIOPTIONS\\fR] \\fISUBCOMMAND\\fR [\\fIARGS\\fR...]",
         ".SH DESCRIPTION",
         "closeloop keeps every postmortem action item in a PostgreSQL \\fIledger\\fR and "
         "reconciles it both ways with the trackers teams work in (GitHub Issues). "
         "\\fBclosloop run\\fR is the daemon; the other subcommands are one-shot tools "
         "for operators. Options may stand before or after the subcommand.".replace("closloop", "closeloop"),
         ".SH OPTIONS", "These options are accepted by every subcommand:"]
    for opt, hlp in glob:
        o += [".TP", ".B " + esc(opt), line(hlp)]
    o += [".SH SUBCOMMANDS"]
    for c in cmds:
        usage, summary, opts, example = parse_help(run(binary, c, "--help"))
        o += [".SS " + esc(c), ".B " + esc(usage), ".PP", line(summary)]
        own = [x for x in opts if x not in glob]
        for opt, hlp in own:
            o += [".TP", ".B " + esc(opt), line(hlp)]
        o += [".PP", "Example:", ".PP", ".RS", ".nf", line(example), ".fi", ".RE"]
    o += [".SH EXIT STATUS", ".TP", ".B 0", "success", ".TP", ".B 1",
          "failure, also a partial one (some files skipped, some links failed: the rest was done)",
          ".TP", ".B 2", "usage error: nothing was done",
          ".SH ENVIRONMENT", ".TP", ".B CLOSELOOP_CONFIG",
          "configuration file when \\fB\\-c\\fR is not given",
          ".TP", ".B CREDENTIALS_DIRECTORY",
          "set by systemd's \\fBLoadCredential=\\fR; name token files under it with \\fBtoken_file\\fR",
          ".SH FILES", ".TP", ".I /etc/closeloop/closeloop.conf",
          "the configuration, see \\fBcloseloop.conf\\fR(5)",
          ".TP", ".I /lib/systemd/system/closeloop.service", "the systemd unit",
          ".SH LOGS",
          "One line per event on standard error: \\fILEVEL\\fR [connector=... target=... item=... "
          "ticket=...] \\fImessage\\fR, or one JSON object per line with \\fB\\-\\-log\\-format=json\\fR.",
          ".SH SEE ALSO", "\\fBcloseloop.conf\\fR(5), \\fBsystemd.exec\\fR(5), \\fBpsql\\fR(1)"]
    return "\n".join(o) + "\n", cmds


def man5(version, date):
    doc = open(os.path.join(ROOT, "docs", "configuration.md"), encoding="utf-8").read()
    o = [".TH CLOSELOOP.CONF 5 \"%s\" \"closeloop %s\" \"File Formats\"" % (date, version),
         ".SH NAME", "closeloop.conf \\- configuration of the closeloop daemon",
         ".SH SYNOPSIS", ".I /etc/closeloop/closeloop.conf",
         ".SH DESCRIPTION",
         "libconfig syntax: \\fBname = value;\\fR, groups \\fB{ }\\fR, lists \\fB( )\\fR, "
         "arrays \\fB[ ]\\fR, \\fB#\\fR comments. Unknown options are errors. "
         "\\fBcloseloop check\\-config\\fR validates a file and names the line of the first problem "
         "and what was expected; \\fB\\-\\-connect\\fR also checks the ledger and its schema version.",
         ".PP", "\\fIreload: yes\\fR means SIGHUP applies a change; \\fIno\\fR needs a "
         "restart.", ".SH OPTIONS"]
    names = []
    for m in re.finditer(r"^\| `([^`]+)` \| ([^|]+) \| ([^|]+) \| ([^|]+) \| (.*) \|$", doc, re.M):
        name, typ, default, reload_, text = (g.strip() for g in m.groups())
        names.append(name)
        o += [".TP", ".B %s" % esc(name),
              line("%s, default %s, reload: %s. %s" % (typ, default, reload_, text))]
    o += [".SH SECRETS",
          "A tracker token is never written in this file: name a file with \\fBtoken_file\\fR "
          "(with systemd, \\fBLoadCredential=\\fR and a path under "
          "\\fI/run/credentials/closeloop.service/\\fR) or an environment variable with "
          "\\fBtoken_env\\fR. Tokens never reach a log line.",
          ".SH FILES", ".TP", ".I /usr/share/doc/closeloop/examples/closeloop.conf",
          "every option, commented",
          ".SH SEE ALSO", "\\fBcloseloop\\fR(8)"]
    return "\n".join(o) + "\n", names


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: gen-man.py CLOSELOOP-BINARY OUTDIR")
    binary, outdir = sys.argv[1], sys.argv[2]
    version = run(binary, "version").split()[-1]
    # the date of the sources, so the pages are reproducible
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH") or os.path.getmtime(
        os.path.join(ROOT, "docs", "configuration.md")))
    date = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%d")
    os.makedirs(outdir, exist_ok=True)
    p8, cmds = man8(binary, version, date)
    p5, names = man5(version, date)
    if not names:
        sys.exit("gen-man: no options found in docs/configuration.md")
    with open(os.path.join(outdir, "closeloop.8"), "w", encoding="utf-8") as f:
        f.write(p8)
    with open(os.path.join(outdir, "closeloop.conf.5"), "w", encoding="utf-8") as f:
        f.write(p5)
    print("gen-man: closeloop.8 (%d subcommands), closeloop.conf.5 (%d options) in %s"
          % (len(cmds), len(names), outdir))


if __name__ == "__main__":
    main()
