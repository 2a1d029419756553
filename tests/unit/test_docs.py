"""The documentation cannot drift or break: the reference pages are what
hack/gen-reference.py makes from the sources now, the docs site builds with
`mkdocs build --strict` (a broken link, a bad anchor or a missing page fails), and every
link from the repository's front pages into the repository resolves."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import unicodedata
from functools import cache
from pathlib import Path
from types import ModuleType
from urllib.parse import unquote

import markdown
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
FRONT_PAGES = ["README.md", "CONTRIBUTING.md", "CHANGELOG.md"]


def _generator() -> ModuleType:
    path = REPO / "hack" / "gen-reference.py"
    spec = importlib.util.spec_from_file_location("gen_reference", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def test_reference_pages_are_generated_from_the_sources_now() -> None:
    gen = _generator()
    stale = [p.relative_to(REPO).as_posix() for p, text in gen.render_all().items()
             if not p.exists() or p.read_text() != text]
    assert not stale, (
        f"out of date with crds/, the chart's values, metrics.py or cli.py: {', '.join(stale)}; "
        "run `.venv/bin/python hack/gen-reference.py` and commit the pages")


def _mkdocs_config() -> dict:
    # mkdocs.yml holds no Python tags: plain YAML reads it.
    return yaml.safe_load((REPO / "mkdocs.yml").read_text())


def _nav_pages(node: object) -> list[str]:
    if isinstance(node, str):
        return [] if re.match(r"^[a-z]+://", node) else [node]
    if isinstance(node, list):
        return [p for item in node for p in _nav_pages(item)]
    if isinstance(node, dict):
        return [p for v in node.values() for p in _nav_pages(v)]
    return []


def test_docs_site_builds_strictly(tmp_path: Path) -> None:
    cfg = _mkdocs_config()
    assert cfg.get("strict") is True, "mkdocs.yml must keep `strict: true`"
    docs = REPO / cfg.get("docs_dir", "docs")
    missing = [p for p in _nav_pages(cfg["nav"]) if not (docs / p).is_file()]
    assert importlib.util.find_spec("mkdocs"), (
        "mkdocs is not installed in this venv: hack/setup.sh installs the dev extra")
    run = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
         str(REPO / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    problems = [line for line in (run.stderr + run.stdout).splitlines()
                if line.strip() and not line.startswith(("INFO", "DEBUG"))]
    msg = []
    if missing:
        msg.append("pages in mkdocs.yml's nav missing from docs/:\n  "
                   + "\n  ".join(f"docs/{p}" for p in missing))
    if run.returncode != 0:
        msg.append("`mkdocs build --strict` failed:\n  "
                   + "\n  ".join(problems or (run.stdout + run.stderr).splitlines()[-20:]))
    assert not msg, "\n".join(msg)


# --- links from the front pages ---------------------------------------------------------

_FENCE = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1[^\n]*$", re.M | re.S)
_CODE_SPAN = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.S)
_INLINE = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+[\"'(][^)]*)?\)")
_REFDEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
_HTML = re.compile(r"<(?:a|img)\b[^>]*?\b(?:href|src)=\"([^\"]+)\"", re.I)


def links(md: str) -> list[str]:
    """Link targets of a Markdown text, not counting code blocks and code spans."""
    md = _CODE_SPAN.sub("", _FENCE.sub("", md))
    return [m.group(1) for rx in (_INLINE, _REFDEF, _HTML) for m in rx.finditer(md)]


@cache
def _mkdocs_anchors(page: Path) -> frozenset[str]:
    """The ids mkdocs gives a page's headings: its own toc extension, configured as in
    mkdocs.yml (lowercase, punctuation dropped, spaces to hyphens, `_1` on repeats)."""
    names, configs = [], {}
    for ext in _mkdocs_config().get("markdown_extensions") or []:
        if isinstance(ext, dict):
            (name, conf), = ext.items()
            names.append(name)
            configs[name] = conf or {}
        else:
            names.append(ext)
    md = markdown.Markdown(extensions=names, extension_configs=configs)
    md.convert(page.read_text())

    def ids(tokens: list[dict]) -> list[str]:
        return [i for t in tokens for i in [t["id"], *ids(t["children"])]]

    return frozenset(ids(md.toc_tokens))


@cache
def _github_anchors(page: Path) -> frozenset[str]:
    """The ids GitHub gives a Markdown file's headings (its README, BENCHMARKS.md...):
    lowercase, punctuation but `-` and `_` dropped, each space a hyphen, `-1` on repeats."""
    seen: dict[str, int] = {}
    out = set()
    for m in re.finditer(r"^ {0,3}#{1,6}\s+(.+?)\s*#*\s*$", _FENCE.sub("", page.read_text()),
                         re.M):
        title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", m.group(1)).replace("`", "")
        slug = "".join(c for c in title.lower()
                       if c in "-_ " or unicodedata.category(c)[0] in "LN").replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return frozenset(out)


def broken_links(page: Path) -> list[str]:
    """Each link of `page` into the repository whose file, or heading, is not there. The
    anchors of docs pages are checked as mkdocs makes them, and as GitHub does."""
    docs = (REPO / "docs").resolve()
    out = []
    for target in links(page.read_text()):
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^//", target):
            continue  # another site, mailto: ...
        path_part, _, anchor = target.partition("#")
        dest = (page.parent / unquote(path_part)).resolve() if path_part else page.resolve()
        if REPO.resolve() not in dest.parents and dest != REPO.resolve():
            out.append(f"{target}: outside the repository")
            continue
        if not dest.exists():
            out.append(f"{target}: no such file")
            continue
        if anchor and dest.suffix == ".md":
            # Read on GitHub, a front page's link opens GitHub's rendering of the page; a docs
            # page must also have the anchor on the site (mkdocs' ids).
            where = dest.relative_to(REPO.resolve())
            if docs in dest.parents and unquote(anchor) not in _mkdocs_anchors(dest):
                out.append(f"{target}: no heading with that anchor in {where} on the site "
                           "(mkdocs' toc ids)")
            elif unquote(anchor) not in _github_anchors(dest):
                out.append(f"{target}: no heading with that anchor in {where} on GitHub")
    return out


@pytest.mark.parametrize("name", FRONT_PAGES)
def test_front_page_links_resolve(name: str) -> None:
    page = REPO / name
    if not page.exists():
        pytest.skip(f"no {name} yet")
    bad = broken_links(page)
    assert not bad, f"{name} links to what is not there:\n  " + "\n  ".join(bad)


def test_link_checker_sees_what_it_should(tmp_path: Path) -> None:
    """The checker itself: links in code are not links, anchors follow each renderer."""
    text = ("[a](docs/x.md#one) ![p](docs/p.png 'title') <img src=\"docs/q.png\">\n"
            "[r]: CHANGELOG.md\n`[no](code.md)`\n```\n[no](fence.md)\n```\n"
            "[site](https://example.com/#x) [self](#top)\n")
    assert sorted(links(text)) == sorted(["docs/x.md#one", "docs/p.png", "CHANGELOG.md",
                                          "docs/q.png", "https://example.com/#x", "#top"])
    page = tmp_path / "p.md"
    page.write_text("# The `planguard` command: pause, resume!\n## Step 1 - install\n"
                    "## Step 1 - install\n")
    assert _mkdocs_anchors(page) >= {"the-planguard-command-pause-resume", "step-1-install",
                                     "step-1-install_1"}
    assert _github_anchors(page) >= {"the-planguard-command-pause-resume", "step-1---install",
                                     "step-1---install-1"}
