"""scripts/warm_python.py: commands forked from a warm interpreter behave as `python SCRIPT` / `python -m MODULE` in
a new interpreter would -- argv, sys.path[0], working folder, exit status, output, atexit -- and a timeout stops the
command's whole process group."""
import os
import sys
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "scripts"))
from warm_python import WarmPython  # noqa: E402


@pytest.fixture(scope="module")
def py():
    with WarmPython(dict(os.environ), modules=["json"]) as server:   # no torch: these tests check the forking
        yield server


def script(folder, name, text):
    path = folder / name
    path.write_text(text)
    return str(path)


def test_a_script_sees_its_argv_path_and_folder_and_its_output_and_status_come_back(py, tmp_path):
    s = script(tmp_path, "s.py", "import os, sys\nprint(sys.argv, sys.path[0] == os.path.dirname(__file__), "
                                 "os.getcwd())\nprint('to stderr', file=sys.stderr)\nsys.exit(3)\n")
    code, out, cpu = py.run_script(s, ["a b", "--c"], str(tmp_path), timeout=30)
    assert code == 3 and cpu >= 0
    assert out.splitlines() == [f"[{s!r}, 'a b', '--c'] True {tmp_path}", "to stderr"]


def test_exit_forms_as_the_interpreter_gives_them(py, tmp_path):
    for text, want_code, want_out in [("pass", 0, ""), ("import sys; sys.exit()", 0, ""),
                                      ("import sys; sys.exit('bad input')", 1, "bad input"),
                                      ("raise ValueError('boom')", 1, "ValueError: boom"),
                                      ("import atexit; atexit.register(print, 'at exit')", 0, "at exit")]:
        code, out, _ = py.run_script(script(tmp_path, "e.py", text), [], str(tmp_path), timeout=30)
        assert code == want_code and want_out in out, (text, code, out)


def test_a_module_runs_as_main_with_the_working_folder_first_on_its_path(py, tmp_path):
    script(tmp_path, "warm_mod_x.py", "import sys\nif __name__ == '__main__':\n    print('main', sys.argv[1:])\n")
    code, out, _ = py.run_module("warm_mod_x", ["1"], str(tmp_path), timeout=30)
    assert (code, out) == (0, "main ['1']\n")


def test_a_command_does_not_change_the_server(py, tmp_path):
    py.run_script(script(tmp_path, "m.py", "import json; json.dumps = None"), [], str(tmp_path), timeout=30)
    code, out, _ = py.run_script(script(tmp_path, "n.py", "import json; print(json.dumps(1))"), [], str(tmp_path),
                                 timeout=30)
    assert (code, out) == (0, "1\n")


def test_a_timeout_kills_the_command_and_its_children(py, tmp_path):
    pidfile = tmp_path / "child.pid"
    s = script(tmp_path, "t.py", f"import subprocess, sys, time\n"
                                 f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
                                 f"open({str(pidfile)!r}, 'w').write(str(p.pid))\nprint('started', flush=True)\n"
                                 f"time.sleep(60)\n")
    t0 = time.monotonic()
    code, out, _ = py.run_script(s, [], str(tmp_path), timeout=3)
    assert code == 124 and "started" in out and "timed out after 3 s" in out and time.monotonic() - t0 < 20
    child = int(pidfile.read_text())
    for _ in range(50):                                 # killed; gone once init reaps it
        if not os.path.exists(f"/proc/{child}") or open(f"/proc/{child}/stat").read().split()[2] == "Z":
            break
        time.sleep(0.1)
    else:
        pytest.fail("the command's child outlived the timeout")
