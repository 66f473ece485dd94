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
