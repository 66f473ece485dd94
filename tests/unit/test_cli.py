import json
import subprocess
import sys

HEAVY = ("mlflow", "feast", "kserve", "pandas", "pyarrow", "kubernetes", "sklearn", "moto", "boto3")


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "mlopstui.cli", *args], capture_output=True, text=True,
                          timeout=60, env=env)


def test_help_and_version():
    r = run("--help")
    assert r.returncode == 0 and "exit codes" in r.stdout
    r = run("version", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["version"]


def test_parsing_imports_no_heavy_sdk():
    code = ("import sys, mlopstui.cli as c; c.build_parser().parse_args(['--help'])")
    code = ("import sys, mlopstui.cli as c\n"
            "c.build_parser()\n"
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_app_import_is_light():
    code = ("import sys, mlopstui.app\n"
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_usage_error_exit_code():
    r = run("no-such-verb")
    assert r.returncode == 2


def test_verb_table_is_what_the_modules_register():
    import argparse
    import importlib

    from mlopstui import cli

    registered = {}
    for modname in cli.COMMAND_MODULES:
        p = argparse.ArgumentParser()
        sub = p.add_subparsers(dest="verb")
        importlib.import_module(modname).register(sub)
        registered.update(dict.fromkeys(sub.choices, modname.rsplit(".", 1)[1]))
    assert cli.VERBS == registered


def test_a_one_shot_verb_imports_only_its_own_command_module():
    code = ("import sys, mlopstui.cli as c\n"
            "a = c.build_parser(['--kubeconfig', 'k', '-n', 'ns', 'isvc', '-A']).parse_args("
            "['--kubeconfig', 'k', '-n', 'ns', 'isvc', '-A'])\n"
            "assert a.verb == 'isvc' and a.all_namespaces, a\n"
            "print(sorted(m for m in sys.modules if m.startswith('mlopstui.commands.')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "['mlopstui.commands._common', 'mlopstui.commands.serving']"
    # --help and an unknown verb still see every verb
    assert "workflows" in run("--help").stdout
    assert "workflows" in run("no-such-verb").stderr


def test_the_program_exits_with_its_output_and_atexit_handlers(tmp_path):
    """Run as the program (main() with no argv), a verb leaves through cli._exit_now (no module teardown):
    all of its output still arrives, its exit code is the verb's, and atexit handlers (the app log's,
    temporary certificate files') still run; a verb with another thread alive exits the normal way."""
    done = tmp_path / "atexit-ran"
    code = ("import atexit, sys, threading, time\n"
            f"atexit.register(lambda: open({str(done)!r}, 'w').write('yes'))\n"
            "import mlopstui.cli as c\n"
            "if sys.argv[1] == 'thread':\n"
            "    threading.Thread(target=time.sleep, args=(0.3,)).start()\n"
            "sys.argv = ['mlopstui', 'version', '--json']\n"
            "print('x' * 200000, end='')\n"
            "sys.exit(c.main())\n")
    for mode in ("alone", "thread"):
        done.unlink(missing_ok=True)
        r = subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("x" * 200000) and json.loads(r.stdout[200000:])["version"]
        assert done.read_text() == "yes"
    r = subprocess.run([sys.executable, "-c", code.replace("'version', '--json'", "'no-such-verb'"), "alone"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and done.read_text() == "yes"
