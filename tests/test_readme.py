"""The README's first two commands are exactly what CI runs."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_commands_are_ci_commands():
    ci = [l for l in (ROOT / ".ci/run").read_text().splitlines() if l and not l.startswith(("#", "set ", "cd "))]
    readme = (ROOT / "README.md").read_text()
    block = readme.split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [l for l in block.splitlines() if l and not l.startswith("#")]
    assert commands == ci
