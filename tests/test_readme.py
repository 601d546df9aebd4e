"""The README's set-up commands are the ones CI runs, and its library example works."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, flags=re.S)


def test_readme_gives_two_setup_commands_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text()
    setup = readme.split("## Set up", 1)[1].split("\n## ", 1)[0]
    commands = [block.strip() for block in _bash_blocks(setup)]
    assert len(commands) == 2
    main_job, tests = commands
    assert main_job.startswith("python3 -m pip install torch==2.13.0 && ")
    assert "hkqa index" in main_job and "hkqa ask" in main_job
    assert tests.startswith("python3 -m pip install torch==2.13.0 && ")
    assert tests.endswith("python3 -m pytest")
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests in ci


def test_readme_library_example_runs(corpus_index: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    example = re.search(r"```python\n(.*?)```", readme, flags=re.S)
    assert example is not None
    code = example.group(1).replace('index_dir="index"', f'index_dir=r"{corpus_index}"')
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
