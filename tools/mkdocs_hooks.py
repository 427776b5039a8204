"""MkDocs hooks: the pages' generated parts, made from the code at build time.

A page asks for a generated part with an HTML comment on a line of its own:

* ``<!-- tfsem:fields TYPE -->``: the fields of model family TYPE's section
  (``python -m tfsem.config --describe TYPE --markdown``);
* ``<!-- tfsem:model-fields -->``: every family's, each under a heading;
* ``<!-- tfsem:section data|data.preprocess|data.folders|data.toy|data.tfds|optimizer|train -->``:
  the fields of that section;
* ``<!-- tfsem:cli -->``: every command's ``--help``, from its argparse parser;
* ``<!-- tfsem:configs -->``: the shipped ``configs/*.json``, each with its model and description;
* ``<!-- tfsem:bench docs/bench_compare_<cpu>_<date>.json -->``: the table of
  one ``python dev/benchmark.py compare`` run, from the JSON it wrote, with
  its machine;
* ``<!-- tfsem:include FILE -->``: a file of the repository (CHANGELOG.md).

An unknown marker, or one whose source is missing, fails the build, so
``mkdocs build --strict`` (``make docs``) catches a stale page.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import io
import json
import os
import re

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # the CLIs' --help imports TensorFlow
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARKER = re.compile(r"^<!-- tfsem:([a-z-]+)(?: ([^ ]+))? -->$", re.MULTILINE)


def _section(name: str) -> str:
    from tfsem.config.data import (DataConfig, FolderLayoutConfig, PreprocessConfig, TFDSConfig,
                                   ToyStreetsConfig)
    from tfsem.config.experiment import OptimizerConfig, TrainConfig
    from tfsem.config.schema import describe

    sections = {"data": DataConfig, "data.preprocess": PreprocessConfig,
                "data.folders": FolderLayoutConfig, "data.toy": ToyStreetsConfig,
                "data.tfds": TFDSConfig, "optimizer": OptimizerConfig, "train": TrainConfig}
    if name not in sections:
        raise ValueError(f"tfsem:section {name!r}: expected one of {', '.join(sections)}")
    return describe(sections[name], markdown=True)


def _fields(type_: str) -> str:
    from tfsem import registry
    from tfsem.config.schema import describe

    return describe(registry.family(type_, "the docs").section, markdown=True)


def _model_fields() -> str:
    from tfsem import registry

    return registry.describe_families(markdown=True).replace("\n#### ", "\n### ").replace(
        "#### ", "### ", 1)


def command_help(module_name: str) -> str:
    """What ``python -m MODULE --help`` prints, from the command's own parser."""
    from tfsem.cli import command_module

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        command_module(module_name).main(["--help"])
    text = out.getvalue()
    if not text.startswith("usage:"):
        raise ValueError(f"{module_name} --help printed no usage")
    return text


def _cli() -> str:
    from tfsem.cli import COMMANDS, command_module

    os.environ.setdefault("COLUMNS", "100")  # argparse wraps at the terminal's width
    parts = []
    for name, (module, what) in COMMANDS.items():
        parts += [f"## `tfsem {name}`", "",
                  f"{what[0].upper()}{what[1:]}. The same command is `python -m {module}`.", "",
                  "```text", command_help(module).rstrip(), "```", ""]
        # the module's documentation after its usage paragraph
        about = inspect.cleandoc(command_module(module).__doc__ or "").split("\n\n", 1)[1:]
        if about and about[0].strip():
            parts += [about[0].strip(), ""]
    return "\n".join(parts)


def _configs() -> str:
    import glob

    lines = ["| config | model | what |", "|---|---|---|"]
    for path in sorted(glob.glob(os.path.join(REPO, "configs", "*.json"))):
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
        model = (config.get("model") or {}).get("type", "data only")
        what = " ".join(str(config.get("description", "")).split()).replace("|", "\\|")
        if not what:
            raise ValueError(f"{os.path.basename(path)} has no description")
        lines.append(f"| `{os.path.basename(path)}` | {model} | {what} |")
    return "\n".join(lines)


def _bench(path: str) -> str:
    spec = importlib.util.spec_from_file_location("tfsem_dev_benchmark",
                                                  os.path.join(REPO, "dev", "benchmark.py"))
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    with open(os.path.join(REPO, path), encoding="utf-8") as f:
        run = json.load(f)
    machine = run["machine"]
    flags = [name for name in ("avx512_bf16", "amx_bf16") if machine.get(name)]
    about = (f"CPU: {machine.get('cpu', '?')}, {machine.get('cpus', '?')} cores"
             f"{' (' + ', '.join(flags) + ')' if flags else ''}; {run.get('threads', '?')} threads, "
             f"{run.get('rounds', '?')} rounds of {run.get('repeats', '?')} timed runs, "
             f"{run.get('minutes', '?')} min; load average {machine.get('loadavg_at_start', '?')} "
             f"at the start, {machine.get('loadavg_at_end', '?')} at the end. Source: `{path}`.")
    return f"{about}\n\n{benchmark.markdown_table(run['rows'])}"


def _include(path: str) -> str:
    with open(os.path.join(REPO, path), encoding="utf-8") as f:
        return f.read()


def render(kind: str, arg: str | None) -> str:
    """The markdown of one marker."""
    makers = {"fields": _fields, "section": _section, "bench": _bench, "include": _include}
    if kind in makers and arg:
        return makers[kind](arg)
    if kind == "model-fields" and not arg:
        return _model_fields()
    if kind == "cli" and not arg:
        return _cli()
    if kind == "configs" and not arg:
        return _configs()
    raise ValueError(f"unknown docs marker 'tfsem:{kind}{' ' + arg if arg else ''}'")


def on_page_markdown(markdown, page, config, files):
    def replace(match):
        try:
            return render(match.group(1), match.group(2))
        except Exception as err:
            raise RuntimeError(f"{page.file.src_path}: {match.group(0)}: {err}") from err

    return MARKER.sub(replace, markdown)
