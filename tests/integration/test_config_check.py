"""it.config.check: check-config reports everything serve refuses at start, each problem
with the file, line and key (or the environment variable) it comes from, all of them in
one run; serve refuses the same configuration with the same lines; an ANNUAIRE_
variable that names no key is an error; a problem inside sync.sources names the item's
line."""
import os
import subprocess

import harness

BIN = harness.BIN


def run(*args, env=None):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def line_of(path, text):
    """The 1-based line of the first line of path that contains text."""
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if text in line:
                return n
    raise AssertionError(f"{text!r} not in {path}")


def problems(stderr, cmd):
    """The problem lines a command printed, without its 'annuaire CMD: ' prefix."""
    prefix = f"annuaire {cmd}: "
    return [line[len(prefix):] for line in stderr.splitlines() if line.startswith(prefix)]


def serve_problems(svc):
    """Starts serve, which must refuse to start; the problems it printed."""
    svc.start(wait=False)
    rc = svc.proc.wait(30)
    svc.proc = None
    svc.log.close()
    assert rc == 1, svc.read_log()
    return problems(svc.read_log(), "serve")


def test_files_serve_reads_are_checked(cluster, tmp_path):
    # A configuration whose keys are fine, but whose signing key, templates and routing
    # file are not there: check-config names each (all in one run), serve refuses each.
    svc = harness.Service(cluster, templates_dir=str(tmp_path / "no-templates"),
                          config=f"routing:\n  info_file: {tmp_path / 'no-info.yaml'}\n")
    os.unlink(svc.key_path)
    path = svc.config_path
    want = [
        f"{path}:{line_of(path, 'signing_key_file:')}: keys.signing_key_file: cannot read the "
        f"signing key {svc.key_path}: No such file or directory (create one with 'annuaire keys "
        "generate')",
        f"{path}:{line_of(path, 'templates_dir:')}: mail.templates_dir: cannot read the template "
        f"{tmp_path}/no-templates/",
        f"{path}:{line_of(path, 'info_file:')}: routing.info_file: {tmp_path}/no-info.yaml: "
        "cannot read (No such file or directory)",
    ]
    r = svc.run("check-config")
    assert r.returncode == 1, r.stdout + r.stderr
    got = problems(r.stderr, "check-config")
    assert len(got) == 3, r.stderr
    for line, start in zip(got, want):
        assert line.startswith(start), (line, start)
    assert "configuration OK" not in r.stdout
    # serve: the same lines, once the database is known to be usable.
    assert serve_problems(svc) == got

    # Each fixed: both accept it.
    assert svc.run("keys", "generate").returncode == 0
    with open(path) as f:
        text = f.read()
    text = text.replace(str(tmp_path / "no-templates"), os.path.join(harness.SRC, "conf", "templates"))
    text = text.replace(f"  info_file: {tmp_path / 'no-info.yaml'}\n", "")
    with open(path, "w") as f:
        f.write(text)
    r = svc.run("check-config")
    assert r.returncode == 0, r.stderr
    assert "configuration OK" in r.stdout


def test_values_serve_cannot_use(tmp_path):
    # An address that is not numeric, a base URL that is not one links can be built on:
    # refused by check-config and by serve (before it touches a database), the same way.
    conf = tmp_path / "annuaire.yaml"
    conf.write_text(
        "http:\n"
        "  bind_address: localhost\n"
        "server:\n"
        "  public_base_url: \"https://is.test/\"\n"
        "routing:\n"
        "  internal_bind_address: \"127.0.0.1:9091\"\n"
        "admin:\n"
        "  bind_address: \"*\"\n")
    want = [
        f"{conf}:2: http.bind_address: must be a numeric IPv4 or IPv6 address",
        f"{conf}:4: server.public_base_url: must not end with a slash",
        f"{conf}:6: routing.internal_bind_address: must be a numeric IPv4 or IPv6 address",
        f"{conf}:8: admin.bind_address: must be a numeric IPv4 or IPv6 address",
    ]
    r = run("check-config", "-c", str(conf))
    assert r.returncode == 1, r.stdout + r.stderr
    got = problems(r.stderr, "check-config")
    assert len(got) == len(want), r.stderr
    for line, start in zip(got, want):
        assert line.startswith(start), (line, start)
    s = run("serve", "-c", str(conf))
    assert s.returncode == 1
    assert problems(s.stderr, "serve") == got

    conf.write_text("server:\n  public_base_url: \"ftp://is.test\"\n")
    r = run("check-config", "-c", str(conf))
    assert r.returncode == 1
    assert problems(r.stderr, "check-config") == [
        f"{conf}:2: server.public_base_url: must be an http:// or https:// URL"]


def test_environment_variable_that_names_no_key(tmp_path):
    conf = tmp_path / "annuaire.yaml"
    conf.write_text("http:\n  port: 8090\n")
    want = "environment ANNUAIRE_HTTP_PROT: no such key (did you mean ANNUAIRE_HTTP_PORT?)"
    for cmd in ("check-config", "serve", "migrate"):
        r = run(cmd, "-c", str(conf), env={"ANNUAIRE_HTTP_PROT": "8091"})
        assert r.returncode == 1, (cmd, r.stderr)
        assert problems(r.stderr, cmd) == [want], (cmd, r.stderr)
    # A value from the environment that is wrong names its variable (and the key).
    r = run("check-config", "-c", str(conf), env={"ANNUAIRE_HTTP_BIND_ADDRESS": "localhost"})
    assert r.returncode == 1
    assert problems(r.stderr, "check-config")[0].startswith(
        "environment ANNUAIRE_HTTP_BIND_ADDRESS (http.bind_address): must be a numeric")
    # A secret's _FILE variable is a key's: read, and an unreadable one named.
    r = run("check-config", "-c", str(conf),
            env={"ANNUAIRE_DATABASE_PASSWORD_FILE": str(tmp_path / "missing")})
    assert r.returncode == 1
    assert problems(r.stderr, "check-config") == [
        f"environment ANNUAIRE_DATABASE_PASSWORD_FILE (database.password): cannot read "
        f"{tmp_path / 'missing'}: No such file or directory"]
    secret = tmp_path / "pw"
    secret.write_text("hunter2\n")
    r = run("check-config", "-c", str(conf), env={"ANNUAIRE_DATABASE_PASSWORD_FILE": str(secret),
                                                  "ANNUAIRE_KEYS_SIGNING_KEY_FILE": "/nonexistent"})
    assert "database.password: (set)" in r.stdout
    assert "hunter2" not in r.stdout + r.stderr
    # A file named by a variable: the variable is named.
    assert r.returncode == 1
    assert problems(r.stderr, "check-config")[0].startswith(
        "environment ANNUAIRE_KEYS_SIGNING_KEY_FILE (keys.signing_key_file): cannot read the "
        "signing key /nonexistent: No such file or directory"), r.stderr
    # The variables of this very test run (ANNUAIRE_BIN, ANNUAIRE_IT_...) are no keys and
    # are left alone: the problems above are the only ones.


def test_a_problem_in_a_source_names_its_line(tmp_path):
    conf = tmp_path / "annuaire.yaml"
    conf.write_text(
        "sync:\n"
        "  sources:\n"
        "    - name: interieur\n"
        "      ministry: Intérieur\n"
        "      ldif: /srv/interieur.ldif\n"
        "    - name: culture\n"
        "      ministry: Culture\n"
        "      ldif: /srv/culture.ldif\n"
        "      priority: high\n")
    want = f"{conf}:9: sync.sources: sources[1].priority: not a valid value"
    for cmd in ("check-config", "sync"):
        r = run(cmd, "-c", str(conf))
        assert r.returncode == 1, (cmd, r.stderr)
        assert problems(r.stderr, cmd) == [want], (cmd, r.stderr)
