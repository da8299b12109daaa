"""The `graph` command."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import ExitStatus
from ..graph import DEFAULT_MAX_NODES, FORMATS, render_graph
from .options import manifest_paths_argument


@click.command(
    "graph",
    epilog="""\b
Examples:
  beeplan graph examples/acme                    # Mermaid flowchart on stdout
  beeplan graph manifests/ --format dot | dot -Tsvg > org.svg
  beeplan graph manifests/ --leaders --max-nodes 100

\b
Paste the Mermaid output inside a ```mermaid fence in a Markdown file,
issue or pull request: GitHub and GitLab render it.""",
)
@manifest_paths_argument
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="mermaid",
    show_default=True,
    help="Diagram syntax: Mermaid flowchart or Graphviz DOT.",
)
@click.option(
    "--max-nodes",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_NODES,
    show_default=True,
    help="Draw at most this many entities; a note counts the rest.",
)
@click.option("--leaders", is_flag=True, help="Also draw team leaders (who leads whom).")
def graph_command(paths: tuple[Path, ...], fmt: str, max_nodes: int, leaders: bool) -> ExitStatus:
    """Draw the structure the manifests declare.

    Companies > projects > subprojects, the group tree, and who manages
    which project (dashed arrows); inactive entities are drawn dashed.
    Reads the manifests only: no API call. A current-platform set is drawn
    as its categories > project trees, tag categories > tag trees, project
    managers (and with --leaders, people's managers); archived ones dashed.
    """
    # Imported here so that the CLI loads even where the loader is broken or absent.
    from ..usecases.steps import OtherSet, load_offline

    loaded = load_offline(paths[0] if len(paths) == 1 else paths)
    if isinstance(loaded, OtherSet):  # a current set: drawn in its own structure
        text = loaded.engine.graph(loaded.desired, fmt, max_nodes=max_nodes, leaders=leaders)
    else:
        text = render_graph(loaded, fmt, max_nodes=max_nodes, leaders=leaders)
    click.echo(text, nl=False)
    return ExitStatus.SUCCESS


COMMANDS = [graph_command]
