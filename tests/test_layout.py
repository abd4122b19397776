"""The package's shape, as the README's Layout section describes it: every module named there, none
over 400 lines, and ``store/`` (the only package with SQL) imported only by the edges."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "asterisk_bridge"

#: the modules that may import ``store/``: they do I/O for the pure domain (README, Layout)
EDGES = {
    "asterisk_bridge.ivr", "asterisk_bridge.service", "asterisk_bridge.demo", "asterisk_bridge.cli_options",
    "asterisk_bridge.ops", "asterisk_bridge.health",
    "asterisk_bridge.calls.follower", "asterisk_bridge.calls.backfill", "asterisk_bridge.calls.operators",
    "asterisk_bridge.mqtt.publisher",
    "asterisk_bridge.report.build", "asterisk_bridge.report.commands", "asterisk_bridge.report.export",
    "asterisk_bridge.report.schedule", "asterisk_bridge.report.sources",
    "asterisk_bridge.web.calls", "asterisk_bridge.web.params", "asterisk_bridge.web.summaries",
}


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, wherever the import is (inside functions too)."""
    package = _module(path) if path.name == "__init__.py" else _module(path).rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            out.add(module)
            out.update(f"{module}.{alias.name}" for alias in node.names)
    return out


def test_only_the_edges_import_the_store():
    importers = {
        _module(path) for path in PACKAGE.rglob("*.py")
        if not _module(path).startswith("asterisk_bridge.store")
        and any(name == "asterisk_bridge.store" or name.startswith("asterisk_bridge.store.") for name in _imports(path))
    }
    assert importers - EDGES == set(), "a domain module imports store/: move the type it needs to its domain"
    assert {"asterisk_bridge.ivr", "asterisk_bridge.calls.follower", "asterisk_bridge.service"} <= importers


def test_no_module_is_over_400_lines():
    long = {str(path.relative_to(ROOT)): n for path in PACKAGE.rglob("*.py")
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > 400}
    assert long == {}


def test_the_readme_layout_names_every_module():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("\n## Layout\n", 1)[1].split("```", 2)[1]
    entries: dict[str, str] = {}
    for line in block.splitlines():
        head = re.match(r"^  (\S+)", line)
        if head:
            entries[head.group(1)] = line[len(head.group(1)) + 2:]
        elif entries and line.startswith("   "):
            entries[list(entries)[-1]] += " " + line.strip()
    top = " ".join([*entries, *(text for name, text in entries.items() if not name.endswith("/"))])
    unnamed = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if path.name in ("__init__.py", "__main__.py"):
            continue
        text = top if relative.parent == Path(".") else entries.get(f"{relative.parent}/", "")
        if not re.search(rf"(?<!\w){re.escape(path.stem)}(?!\w)", text):
            unnamed.append(str(relative))
    assert unnamed == [], "README Layout: name each module under its package"


def test_the_readme_call_flow_names_only_modules_that_exist():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    flow = readme.split("**How a call flows through the code.**", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`([a-z_]+(?:/[a-z_]+)*\.py)`", flow))
    assert len(named) > 20
    missing = [name for name in sorted(named)
               if not (PACKAGE / name).is_file() and not any(PACKAGE.glob(f"*/{name}"))]
    assert missing == []
