"""CI runs the README's first two commands, read from the README itself: check that block is what CI expects."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_starts_with_setup_and_test_commands():
    block = (ROOT / "README.md").read_text().split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line for line in block.splitlines() if line and not line.startswith("#")]
    assert len(commands) == 2
    assert "pip install -c constraints.txt" in commands[0] and "animetool export" in commands[0]
    assert "animetool verify" in commands[0] and "animetool bench" in commands[0]
    assert "animetool animate" in commands[0] and "pytest" in commands[1]
    assert "README.md" in (ROOT / ".ci/run").read_text()
