"""The `sandbox` commands: serve the local Beebole emulator over HTTP."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import click

from .. import platforms
from ..endpoints import is_loopback
from ..errors import ConfigError
from ..safetext import printable
from ..usecases.migrate import migrate_sandbox

DEFAULT_DB = "beeplan-sandbox.db"


@click.group(
    "sandbox",
    epilog="""\b
Examples:
  beeplan sandbox serve --db rehearsal.db --port 8080
  beeplan plan manifests/ --endpoint sandbox:rehearsal.db   # in-process, no server needed""",
)
def sandbox_group() -> None:
    """Run the local Beebole API emulators (the sandbox): API v2 and the current platform."""


def token_file_for(db: str) -> Path:
    return Path("beeplan-sandbox.token" if db == ":memory:" else db + ".token")


def write_secret(path: Path, secret: str) -> None:
    """Write a file only its owner can read, whatever mode an older copy had.

    Never through a symlink (O_NOFOLLOW): a link planted where the token goes
    would otherwise make beeplan write the token, or clobber a file, wherever
    it points. A file with other hard links is refused for the same reason.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o600)
    except OSError as exc:
        if path.is_symlink():
            raise ConfigError(
                f"refusing to write the sandbox token through the symlink {path}"
            ) from None
        raise ConfigError(f"cannot write the sandbox token to {path}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink > 1:
            raise ConfigError(
                f"refusing to write the sandbox token to {path}: not a plain file of its own"
            )
        os.fchmod(fd, 0o600)
        os.ftruncate(fd, 0)
        os.write(fd, (secret + "\n").encode("utf-8"))
    finally:
        os.close(fd)


@sandbox_group.command(
    "serve",
    epilog="""\b
Examples:
  beeplan sandbox serve                          # beeplan-sandbox.db, a free port
  beeplan sandbox serve --db demo.db --port 8080
  curl -u "$(cat demo.db.token):x" -d '{"service":"company.list"}' \\
       http://127.0.0.1:8080/api/v2
  curl -H "apikey: $(cat demo.db.token)" -H 'Content-Type: application/json' \\
       -d '{"query":"{ currentPerson { id name } }"}' http://127.0.0.1:8080/graphql
  beeplan sandbox serve --db :memory: --token test --error-rate 0.1 --seed 7

\b
Both platforms on one port: API v2 at /api/v2 (the token as the user name
of HTTP basic auth) and the current platform at /graphql (the token in the
apikey header). One database file holds both accounts, in distinct tables
(the current platform's are named current_*), the same file that
--endpoint sandbox:FILE opens. The fault knobs apply to both; the quotas
and --seed-file are API v2's (the current platform has no daily quota).

\b
The token is the one stored in the database (made up when the database is
created) unless --token gives one. It is never printed: without --token it
is written to DB.token (mode 0600) beside the database.""",
)
@click.option("--db", default=DEFAULT_DB, show_default=True, metavar="FILE",
              help="SQLite database of both platforms' accounts, created if missing "
              "(':memory:' for a throwaway one).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (loopback only, unless --allow-remote).")
@click.option("--allow-remote", is_flag=True,
              help="Allow a non-loopback --host: the token then crosses the network "
              "in clear (plain http).")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="TCP port of both platforms; 0 picks a free one.")
@click.option("--token", metavar="T",
              help="Accept this token (on both platforms) instead of the database's own.")
@click.option("--token-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the database's token [default: DB.token].")
@click.option("--seed-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="API v2: YAML with custom field definitions and initial calls "
              "(new databases only).")
@click.option("--latency-ms", type=click.FloatRange(min=0), default=0, show_default=True,
              help="Delay every answer by this much (both platforms).")
@click.option("--error-rate", type=click.FloatRange(0, 1), default=0, show_default=True,
              help="Share of requests answered HTTP 500 without doing the work (both).")
@click.option("--error-after-rate", type=click.FloatRange(0, 1), default=0, show_default=True,
              help="Share of requests whose work is done, then answered HTTP 500 "
              "(a lost answer; both).")
@click.option("--drop-rate", type=click.FloatRange(0, 1), default=0, show_default=True,
              help="Share of requests whose connection is closed without an answer (both).")
@click.option("--seed", type=int, help="Random seed for the fault knobs (reproducible runs).")
@click.option("--quota-requests", type=click.IntRange(min=0), default=4000, show_default=True,
              help="API v2: requests allowed per day.")
@click.option("--quota-kb", type=click.IntRange(min=0), default=2048, show_default=True,
              help="API v2: KB (requests + answers) allowed per day.")
def serve(db: str, host: str, allow_remote: bool, port: int, token: str | None,
          token_file: Path | None, seed_file: Path | None, latency_ms: float,
          error_rate: float, error_after_rate: float, drop_rate: float, seed: int | None,
          quota_requests: int, quota_kb: int) -> None:
    """Serve the Beebole emulators until Ctrl-C: API v2 at http://HOST:PORT/api/v2 and
    the current platform (GraphQL) at http://HOST:PORT/graphql."""
    if not is_loopback(host) and not allow_remote:
        raise ConfigError(
            f"refusing to serve on {host}: the sandbox speaks plain http, so the token "
            "would cross the network in clear. Use a loopback address, or pass "
            "--allow-remote if you mean it."
        )
    server = platforms.joint_sandbox(
        db, host=host, port=port, token=token,
        shared={"latency_ms": latency_ms, "error_rate": error_rate,
                "error_after_rate": error_after_rate, "drop_rate": drop_rate, "seed": seed},
        only={"v2": {"seed_file": seed_file, "quota_requests": quota_requests,
                     "quota_kb": quota_kb}},
    )
    try:
        server.start()
    except OSError as exc:
        server.stop()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    try:
        _announce(server, db, token, token_file)
    except ConfigError:
        server.stop()
        raise
    click.echo("Press Ctrl-C to stop.")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        # Ctrl-C is how a server is meant to stop: a success, not an interruption.
        click.echo("Sandbox stopped.")


def _announce(server: Any, db: str, token: str | None, token_file: Path | None) -> None:
    """Both URLs, and where the token is (written beside the database unless given)."""
    v2_url, current_url = (server.url_of(part) for part in server.parts)
    # API v2's URL first: scripts take the first http:// word of this output.
    click.echo(f"Beebole sandbox on {v2_url} (database {db})")
    click.echo(f"Current platform (GraphQL) on {current_url} (same database and token)")
    if token:
        click.echo("Token: the one given with --token.")
        return
    path = token_file or token_file_for(db)
    write_secret(path, server.token)
    click.echo(f"Token: written to {path} (readable by you only). Try:")
    click.echo(f"  curl -u \"$(cat {path}):x\" -d '{{\"service\":\"company.list\"}}' "
               f"{v2_url}")
    click.echo(f"  curl -H \"apikey: $(cat {path})\" -H 'Content-Type: application/json' "
               f"-d '{{\"query\":\"{{ currentPerson {{ id name }} }}\"}}' {current_url}")


@sandbox_group.command(
    "migrate",
    epilog="""\b
Examples:
  beeplan apply examples/acme --endpoint sandbox:rehearsal.db --auto-approve
  beeplan sandbox migrate --db rehearsal.db
  beeplan sandbox migrate --db rehearsal.db --only-active   # skip archived people, projects
  beeplan convert examples/acme -o current/
  beeplan plan current/ --endpoint sandbox:rehearsal.db

\b
Reads the file's API v2 account (its tables) with beeplan's v2 reader and builds
the file's current-platform account from it, the way Beebole's one-time legacy
migration does: companies at the top of the project structure, projects and
subprojects below, groups as tags (root groups as tag categories), members as
assignments, leaders and managers as managers, user groups as roles, custom
fields and values, tasks, absence types; every xid kept in the External ID
custom field; inactive records archived. Time records are not migrated. The
mapping, and what the sandbox chose where Beebole's page is silent:
beeplan/platforms/current/sandbox/README.md ("Legacy migration").
Like Beebole's, it runs once per account.""",
)
@click.option("--db", required=True, metavar="FILE",
              help="The sandbox database holding the API v2 account (beeplan apply "
              "--endpoint sandbox:FILE made it); its current-platform account is built.")
@click.option("--only-active", is_flag=True,
              help="Skip archived people and projects, as Beebole's 'Only active entities' "
              "option does.")
def migrate(db: str, only_active: bool) -> None:
    """Rehearse Beebole's legacy migration: the file's v2 account -> its current account."""
    report = migrate_sandbox(db, only_active=only_active)
    for phase in report.phases:
        if phase.created or phase.failed:
            failed = f", {phase.failed} failed" if phase.failed else ""
            click.echo(f"  {phase.phase}: {phase.created} created{failed}")
    for line in report.failures:
        click.echo(printable(f"failed: {line}"))
    for item in report.skipped:
        click.echo(printable(f"not carried: {item.what}: {item.why}"))
    for what in report.left_out:
        click.echo(printable(f"left out (--only-active): {what}: archived in API v2"))
    click.echo(printable(
        f"Migrated the API v2 account of {db} into its current-platform account: "
        f"{report.created} records created, {report.failed} failed, {len(report.skipped)} "
        f"values not carried (listed above). Next: beeplan convert V2_DIR -o DIR, then "
        f"beeplan plan DIR --endpoint sandbox:{db}"))
    if report.failed:
        records = "record" if report.failed == 1 else "records"
        raise ConfigError(
            f"{report.failed} {records} failed to migrate (listed above), the rest was "
            "migrated; the plan of your converted set shows what is missing: fix what the "
            "current platform refused (a name with a URL, say) in the manifests, then apply")


COMMANDS = [sandbox_group]
