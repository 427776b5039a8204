"""The documentation: the README's links, and the site's generated parts
(``tools/mkdocs_hooks.py``). ``make docs`` (in ``make test``) builds the whole
site with ``mkdocs build --strict``; these tests pin the pieces."""

import glob
import importlib.util
import json
import os
import re

import pytest

from tests.testing import REPO


def _hooks():
    spec = importlib.util.spec_from_file_location("mkdocs_hooks",
                                                  os.path.join(REPO, "tools", "mkdocs_hooks.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_is_short_and_its_links_exist():
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        text = f.read()
    assert len(text.splitlines()) <= 200
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    local = [t for t in targets if "://" not in t]
    assert "docs/getting-started.md" in local and "CHANGELOG.md" in local
    for target in local:
        assert os.path.exists(os.path.join(REPO, target)), f"README links {target}: missing"


def test_every_page_is_in_the_nav_and_every_marker_is_known():
    with open(os.path.join(REPO, "mkdocs.yml"), encoding="utf-8") as f:
        nav = set(re.findall(r":\s+([\w/.-]+\.md)\s*$", f.read(), re.MULTILINE))
    pages = {os.path.relpath(p, os.path.join(REPO, "docs"))
             for p in glob.glob(os.path.join(REPO, "docs", "**", "*.md"), recursive=True)}
    assert pages == nav, f"not in the nav: {sorted(pages - nav)}; missing: {sorted(nav - pages)}"
    hooks = _hooks()
    known = {"fields", "model-fields", "section", "cli", "configs", "bench", "include"}
    for page in pages:
        with open(os.path.join(REPO, "docs", page), encoding="utf-8") as f:
            for kind, _ in hooks.MARKER.findall(f.read()):
                assert kind in known, f"{page}: unknown marker tfsem:{kind}"


def test_generated_parts_come_from_the_code():
    from tfsem import registry
    from tfsem.config.schema import describe

    hooks = _hooks()
    assert hooks.render("fields", "semgan") == describe(registry.family("semgan", "t").section,
                                                        markdown=True)
    assert "| `batch_size` | int | `1` | GLOBAL batch size" in hooks.render("section", "data")
    configs = hooks.render("configs", None)
    for path in glob.glob(os.path.join(REPO, "configs", "*.json")):
        assert f"| `{os.path.basename(path)}` |" in configs
    assert hooks.render("include", "CHANGELOG.md").startswith("# Changelog")
    with pytest.raises(ValueError, match="unknown docs marker 'tfsem:nope x'"):
        hooks.render("nope", "x")
    with pytest.raises(ValueError, match="expected one of"):
        hooks.render("section", "dta")


def test_a_benchmark_table_is_made_from_the_compare_json(tmp_path):
    rows = [{"case": "spade_fwd_256x128", "batch": 1, "sides": {
        "official": {"median_s": 1.0, "lo_s": 0.9, "hi_s": 1.1, "rounds": 2},
        "tfsem": {"median_s": 0.5, "lo_s": 0.5, "hi_s": 0.5, "rounds": 2}}}]
    run = {"machine": {"cpu": "Test CPU", "cpus": 2, "avx512_bf16": True},
           "threads": 2, "rounds": 2, "repeats": 3, "minutes": 1.0, "rows": rows}
    path = os.path.join(os.path.relpath(str(tmp_path), REPO), "run.json")
    with open(os.path.join(REPO, path), "w", encoding="utf-8") as f:
        json.dump(run, f)
    table = _hooks().render("bench", path)
    assert table.startswith("CPU: Test CPU, 2 cores (avx512_bf16)")
    assert "| spade_fwd_256x128 | 1 | 1.00 s (0.90-1.10) | 0.50 s | 2.00x |" in table


def test_the_cli_reference_has_every_command():
    from tfsem.cli import COMMANDS

    text = _hooks().command_help("tfsem.generate")
    assert text.startswith("usage: python -m tfsem.generate") and "--truncation PSI" in text
    assert len(COMMANDS) >= 13
