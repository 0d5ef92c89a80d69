"""README.md's commands run as written: scripts/readme_commands.py runs every command of its ```bash blocks (and its
```python block) in README order on tiny generated inputs, each reported as ran or skipped with a reason; its parser
and its refusal of commands it has no rule for are checked on hand-made markdown."""
import importlib.util
import os
import re
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "scripts", "readme_commands.py")


def _load_script():
    spec = importlib.util.spec_from_file_location("readme_commands", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module           # dataclasses look their module up while the script loads
    spec.loader.exec_module(module)
    return module


rc = _load_script()

MARKDOWN = """Some text `vidreid not-a-command`.

```bash
make demo        # a comment with vidreid in it
vidreid train --config a.yaml \\
    train.epochs=5   # continued
vidreid models; vidreid datasets    # two commands
vidreid search --probe 'my video.mp4' --html "a # b.html"

# a comment line
```

```
vidreid in an untagged block
```

```python
print("hello")
```

```yaml
key: vidreid value
```
"""


def test_parser_joins_continuations_drops_comments_splits_semicolons_and_ignores_other_blocks():
    cmds = rc.parse_commands(MARKDOWN)
    bash = [c.argv for c in cmds if c.language == "bash"]
    assert bash == [["make", "demo"],
                    ["vidreid", "train", "--config", "a.yaml", "train.epochs=5"],
                    ["vidreid", "models"], ["vidreid", "datasets"],
                    ["vidreid", "search", "--probe", "my video.mp4", "--html", "a # b.html"]]
    assert [c.line for c in cmds if c.language == "bash"] == [4, 5, 7, 7, 8]
    python = [c for c in cmds if c.language == "python"]
    assert len(python) == 1 and python[0].argv == ['print("hello")\n']


def test_a_command_without_a_rule_fails_the_script(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("```bash\nmake test\npip install frobnicate   # not a vidreid command\n"
                      "vidreid eval --config X [--rerank]\n```\n")
    assert rc.main(["--readme", str(readme), "--keep", str(tmp_path / "work")]) == 1
    out = capsys.readouterr().out
    assert re.search(r"^skipped  \(the test suite itself.*make test$", out, re.M)
    assert re.search(r"^FAILED   \(exit 1.*pip install frobnicate\n.*no rule for the program 'pip'", out, re.M)
    assert re.search(r"^FAILED   \(exit 1.*\n.*\[--rerank\]: optional-argument notation", out, re.M)
    assert "1 of 3 ran or skipped, 2 failed" in out


def test_every_substitution_names_a_method_of_work():
    for s in rc.PROGRAMS + rc.SUBSTITUTIONS:
        assert callable(getattr(rc.Work, s.make)), s.word


@pytest.mark.slow
def test_readme_commands_run_as_written(tmp_path):
    """The script on the real README: exit 0, and every README command reported once, as ran or skipped with a
    reason (README order)."""
    env = {**os.environ, "PYTHONPATH": REPO, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    run = subprocess.run([sys.executable, SCRIPT, "--keep", str(tmp_path / "work")], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    with open(os.path.join(REPO, "README.md")) as f:
        commands = rc.parse_commands(f.read())
    reports = re.findall(r"^(ran|skipped)  +\((.+?)\)  README:(\d+) +(.*)$", run.stdout, re.M)
    assert [(int(line), text) for _, _, line, text in reports] == [(c.line, c.text) for c in commands]
    for outcome, detail, _, text in reports:
        assert detail.strip(), text                           # a duration or a reason
    ran = {text for outcome, _, _, text in reports if outcome == "ran"}
    # what must run here: the placeholders' substitutes, the generated videos, DDP (--nproc), the python snippet
    for must in ("make demo", "vidreid extract --config X --checkpoint Y --split query --sampling all",
                 "vidreid search --index footage.index --probe gate.mp4 --box 410,120,90,230 --frame 120",
                 "vidreid tracklets --footage footage.yaml --out footage"):
        assert must in ran, must
    assert any(t.startswith("vidreid train --nproc ") for t in ran) and any(t.startswith("```python") for t in ran)
    skipped = {text: detail for outcome, detail, _, text in reports if outcome == "skipped"}
    assert "real MARS dataset" in skipped["vidreid data check /data/MARS --dataset mars"]
