"""The layout rules of DESIGN.md, checked on the source: libraries never import
CLI modules, and no front end asks what a model is."""

import ast
import os
import re

from tests.testing import REPO

PACKAGE = os.path.join(REPO, "tfsem")

#: The thin CLIs: parse arguments, then call a library. Every CLI of the package.
CLI_MODULES = {"tfsem.generate", "tfsem.edit", "tfsem.dream", "tfsem.evaluate",
               "tfsem.encode_features", "tfsem.encode_styles", "tfsem.train.__main__",
               "tfsem.export.__main__",
               "tfsem.config.__main__", "tfsem.convert.__main__", "tfsem.studio.__main__",
               "tfsem.data.__main__", "tfsem.serving.__main__"}

#: The task attributes only tfsem/models, networks and layers may read.
CAPABILITIES = ("conditional", "use_instances", "use_vae", "use_features", "z_dim",
                "outputs_colors", "label_colors")


def _modules():
    for folder, _, files in os.walk(PACKAGE):
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                module = os.path.relpath(path, REPO)[:-3].replace(os.sep, ".")
                yield module.removesuffix(".__init__"), path


def _imports(path):
    """Every module an import statement names, at the top or inside functions."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def test_the_cli_modules_exist_and_are_thin():
    modules = dict(_modules())
    for cli in CLI_MODULES:
        assert cli in modules, cli
        source = open(modules[cli], encoding="utf-8").read()
        assert "def main(" in source and "argparse" in source, cli
        assert len(source.splitlines()) < 110, f"{cli} holds more than argument parsing"


def test_every_cli_is_listed_and_lives_in_a_cli_module():
    """A module with an argument parser and ``main`` is one of CLI_MODULES: the
    libraries (``data/inspect.py``, ``serving/client.py``, ...) hold none."""
    found = set()
    for module, path in _modules():
        source = open(path, encoding="utf-8").read()
        if "def main(" in source and "argparse" in source:
            found.add(module)
    assert found - {"tfsem.cli"} == CLI_MODULES


def test_no_front_end_reads_a_capability_attribute():
    """Outside tfsem/models, networks and layers, what a task takes comes from
    its ``inference_specs`` (the contract), never from its capability
    attributes (config sections and the studio's own fields are not tasks)."""
    owners = r"(model|model32|task|renderer|semgan|loaded|graph|pipe\.task|self\.model|self\.task)"
    read = re.compile(rf"\b{owners}\.({'|'.join(CAPABILITIES)})\b")
    probe = re.compile(rf"(getattr|hasattr)\([^,]+,\s*[\"']({'|'.join(CAPABILITIES)})[\"']")
    offenders = []
    for module, path in _modules():
        if (module.split(".") + [""])[1] in ("models", "networks", "layers", "convert"):
            continue  # the families' own code (a converter is written for its family)
        for number, line in enumerate(open(path, encoding="utf-8"), 1):
            if read.search(line) or probe.search(line):
                offenders.append(f"{module}:{number}: {line.strip()}")
    assert not offenders, offenders


def test_no_library_module_imports_a_cli_module():
    offenders = []
    for module, path in _modules():
        if module in CLI_MODULES or module == "tfsem.cli":
            continue
        offenders += [f"{module} imports {name}" for name in _imports(path) if name in CLI_MODULES]
    assert not offenders, offenders


def test_no_front_end_probes_a_model_for_capabilities():
    """Capabilities are declared on the task (tfsem.models.base.GANTask): no
    ``getattr(model, ...)``/``hasattr(model, ...)`` probes, no family-name switches
    outside the registry and the family's own files."""
    probe = re.compile(r"\b(getattr|hasattr)\((self\.)?(model|renderer|semgan|source|other)\b")
    family_switch = re.compile(r"""\b(model\.type|type_|family)\s*==\s*["'](gaugan|pix2pixhd|semgan)""")
    offenders = []
    for module, path in _modules():
        for number, line in enumerate(open(path, encoding="utf-8"), 1):
            if probe.search(line) or family_switch.search(line):
                offenders.append(f"{module}:{number}: {line.strip()}")
    assert not offenders, offenders
