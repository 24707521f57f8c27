"""it.cli.usage: --help, --version, subcommand help, and one-line errors with a
non-zero exit for anything unknown; check-config validates without serving."""
import os
import subprocess

import harness

BIN = harness.BIN


def run(*args, env=None):
    # From the source tree, as the demo runs: relative paths of a configuration
    # (mail.templates_dir: conf/templates) are relative to the working directory.
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=30,
                          cwd=harness.SRC, env=env)


def test_help_and_version():
    r = run("--help")
    assert r.returncode == 0
    for cmd in ("serve", "migrate", "check-config"):
        assert cmd in r.stdout
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("annuaire ")
    for cmd in ("serve", "migrate", "check-config"):
        r = run(cmd, "--help")
        assert r.returncode == 0
        assert r.stdout.startswith(f"usage: annuaire {cmd}")


def test_unknown_things_are_one_line_errors():
    cases = [
        (("frobnicate",), "unknown command 'frobnicate'"),
        (("--frob",), "unknown option '--frob'"),
        (("serve", "--frob"), "unknown option '--frob'"),
        (("migrate", "-x"), "unknown option '-x'"),
        (("serve",), "-c FILE is required"),
        (("serve", "-c"), "needs an argument"),
        (("check-config", "-c", "a.yaml", "extra"), "unexpected argument 'extra'"),
    ]
    for args, want in cases:
        r = run(*args)
        assert r.returncode == 2, (args, r.returncode)
        assert want in r.stderr, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
    assert run().returncode == 2


def test_check_config(tmp_path):
    example = os.path.join(harness.SRC, "conf", "annuaire.yaml")
    # check-config checks the signing key serve would read: one made for this test.
    env = {**os.environ, "ANNUAIRE_KEYS_SIGNING_KEY_FILE": str(tmp_path / "signing.key")}
    assert run("keys", "generate", "-c", example, env=env).returncode == 0
    r = run("check-config", "-c", example, env=env)
    assert r.returncode == 0, r.stderr
    assert "configuration OK" in r.stdout
    assert "http.port: 8090" in r.stdout

    bad = tmp_path / "bad.yaml"
    bad.write_text("http:\n  port: 8090\n  treads: 4\n")
    r = run("check-config", "-c", str(bad))
    assert r.returncode == 1
    assert r.stderr.strip() == f"annuaire check-config: {bad}:3: http.treads: unknown key"

    secret = tmp_path / "pw"
    secret.write_text("hunter2\n")
    good = tmp_path / "good.yaml"
    good.write_text(f"database:\n  password_file: {secret}\nmail:\n  templates_dir: conf/templates\n")
    r = run("check-config", "-c", str(good), env=env)
    assert r.returncode == 0
    assert "database.password: (set)" in r.stdout
    assert "hunter2" not in r.stdout + r.stderr

    r = subprocess.run([BIN, "check-config", "-c", str(good)], capture_output=True, text=True,
                       cwd=harness.SRC, env={**os.environ, "ANNUAIRE_HTTP_PORT": "70000"})
    assert r.returncode == 1
    assert "ANNUAIRE_HTTP_PORT" in r.stderr
